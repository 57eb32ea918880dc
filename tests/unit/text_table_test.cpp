// Unit tests of runtime/text_table.hpp: what `ps` prints its table with (#14). The table must
// come out byte for byte as ps printed it when it built the whole table in one std::string.
#include <signal.h>    // sigaction(2): SIGPIPE ignored for one test
#include <sys/mman.h>  // memfd_create(2)
#include <unistd.h>    // pipe(2), lseek(2)

#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "ctr/fd.hpp"  // ctr::UniqueFd, ctr::read_all
#include "runtime/text_table.hpp"

namespace {

using mycontainer::OutputBuffer;
using mycontainer::TableLayout;
using mycontainer::TextArena;
using Cells = std::vector<std::string_view>;

// What an OutputBuffer of `capacity` bytes wrote, all of it, once destroyed (a memfd).
std::string written(size_t capacity, const std::function<void(OutputBuffer&)>& f) {
  const ctr::UniqueFd fd(::memfd_create("text_table_test", MFD_CLOEXEC));
  EXPECT_TRUE(fd);
  {
    OutputBuffer out(fd.get(), capacity);
    f(out);
  }
  EXPECT_EQ(::lseek(fd.get(), 0, SEEK_SET), 0);
  return ctr::read_all(fd.get());
}

// The table as ps made it before (lifecycle.cpp's print_table until #14's fourth round): the
// widest cell of each column in bytes, three spaces after every column but the last.
std::string reference_table(const std::vector<Cells>& rows) {
  std::vector<size_t> width(rows.at(0).size());
  for (const auto& row : rows) {
    for (size_t i = 0; i < row.size(); ++i) width[i] = std::max(width[i], row[i].size());
  }
  std::string out;
  for (const auto& row : rows) {
    for (size_t i = 0; i + 1 < row.size(); ++i) {
      out += row[i];
      out.append(width[i] - row[i].size() + 3, ' ');
    }
    out += row.back();
    out += '\n';
  }
  return out;
}

std::string table(size_t capacity, const std::vector<Cells>& rows) {
  return written(capacity, [&](OutputBuffer& out) {
    TableLayout layout(rows.at(0));
    for (size_t i = 1; i < rows.size(); ++i) layout.widen(rows[i]);
    for (const auto& row : rows) layout.write(out, row);
  });
}

TEST(TextTable, ColumnsAreAsWideAsTheirWidestCellThreeSpacesApart) {
  const std::vector<Cells> rows{{"CONTAINER ID", "IMAGE", "NAMES"},
                                {"0123456789ab", "/srv/a-longer-rootfs", "web"},
                                {"ba9876543210", "", "a-much-longer-name"}};
  TableLayout layout(rows[0]);
  layout.widen(rows[1]);
  layout.widen(rows[2]);
  EXPECT_EQ(layout.width(0), 12u);
  EXPECT_EQ(layout.width(1), 20u);
  EXPECT_EQ(layout.width(2), 18u);
  const std::string text = table(size_t{32} * 1024, rows);
  EXPECT_EQ(text, reference_table(rows));
  EXPECT_EQ(text.substr(0, text.find('\n')),
            "CONTAINER ID   IMAGE                  NAMES");  // the last column is not padded
}

TEST(TextTable, WidthsCountBytesAsPsAlwaysDid) {
  // A shortened command ends in "…", three bytes: its column is as wide as its bytes, not
  // its characters (docker's tabwriter counts characters; mycontainer's ps never did).
  const std::vector<Cells> rows{{"COMMAND", "NAMES"}, {"\"/bin/sleep 900000000…", "ß"}, {"x", "y"}};
  TableLayout layout(rows[0]);
  layout.widen(rows[1]);
  layout.widen(rows[2]);
  EXPECT_EQ(layout.width(0), std::string_view("\"/bin/sleep 900000000…").size());
  EXPECT_EQ(layout.width(0), 24u);
  EXPECT_EQ(layout.width(1), 5u);  // "NAMES"; "ß" is 2 bytes
  EXPECT_EQ(table(size_t{32} * 1024, rows), reference_table(rows));
}

TEST(TextTable, ARowLongerThanTheBufferComesOutWhole) {
  // Cells and paddings longer than the buffer (ps --no-trunc of a long command), with buffers
  // smaller than a cell, than a line, and larger than the whole table.
  const std::string long_cell(5000, 'c');
  const std::string wide_name(3000, 'n');
  const std::vector<Cells> rows{
      {"ID", "COMMAND", "NAMES"}, {"a", long_cell, "x"}, {"b", "short", wide_name}, {"c", "", ""}};
  const std::string expected = reference_table(rows);
  for (const size_t capacity : {1u, 7u, 64u, 4096u, 5000u, 5001u, 65536u}) {
    EXPECT_EQ(table(capacity, rows), expected) << "a buffer of " << capacity << " bytes";
  }
}

TEST(TextTable, PutAndSpacesAcrossTheBuffersEnd) {
  const std::string text = written(8, [](OutputBuffer& out) {
    out.put("abcdef");
    out.spaces(20);
    out.put('x');
    out.put("0123456789");
    out.spaces(0);
    out.put("");
    out.put(std::string_view{});  // an empty cell: no data pointer at all (UBSan: no memcpy)
  });
  EXPECT_EQ(text, "abcdef" + std::string(20, ' ') + "x0123456789");
}

TEST(TextTable, AClosedPipeStopsTheOutputWithoutAnError) {
  struct sigaction ignore {
  }, old{};
  ignore.sa_handler = SIG_IGN;
  ASSERT_EQ(::sigaction(SIGPIPE, &ignore, &old), 0);
  int fds[2];
  ASSERT_EQ(::pipe(fds), 0);
  ::close(fds[0]);
  {
    OutputBuffer out(fds[1], 16);
    out.put("more than sixteen bytes");  // written at once: fails (EPIPE)
    out.put("x");
    EXPECT_FALSE(out.flush());
  }
  ::close(fds[1]);
  ::sigaction(SIGPIPE, &old, nullptr);
}

TEST(TextTable, AnArenasTextStaysWhereItWasPut) {
  TextArena arena(64);
  std::vector<std::string> texts;
  std::vector<std::string_view> kept;
  for (int i = 0; i < 200; ++i) {
    texts.emplace_back().assign(static_cast<size_t>(i % 23), static_cast<char>('a' + i % 26));
    kept.push_back(arena.keep(texts.back()));
  }
  texts.emplace_back().assign(1000, 'L');  // longer than a block: a block of its own
  kept.push_back(arena.keep(texts.back()));
  kept.push_back(arena.keep("after"));
  texts.emplace_back("after");
  for (size_t i = 0; i < texts.size(); ++i) {
    EXPECT_EQ(kept[i], texts[i]) << i;
    if (!texts[i].empty()) {
      EXPECT_NE(kept[i].data(), texts[i].data());  // a copy
    }
  }
}

}  // namespace

// What `ps` prints with (#14): a table laid out as docker's tabwriter does, written through one
// fixed buffer, and a store for the cells that are made rather than seen in the index.
//
// Why not the whole table in one std::string, rows of std::strings: on this VM a page fault
// costs 15 to 25 µs (tests/bench/RESULTS.md), so every fresh page of memory `ps` touches is
// time. A string grown to the table's size touches its pages once per doubling (a copy each),
// and 500 rows of 8 strings are 132 kB that malloc serves with mmap(2), faulted page by page.
// Here the cells are views (into the index, or into a few blocks of TextArena), the widths come
// from a first pass over them, and the text goes out through one buffer of 16 KiB, reused.
#pragma once

#include <cstddef>
#include <memory>
#include <span>
#include <string_view>
#include <vector>

namespace mycontainer {

// Text that stays where it was put, for views of it: copied into blocks that are never moved
// (a std::vector<std::string> would move its strings as it grows) nor zero-filled first.
class TextArena {
 public:
  explicit TextArena(size_t block_size = size_t{16} * 1024) : block_size_(block_size) {}
  // A copy of text, valid as long as the arena lives.
  std::string_view keep(std::string_view text);

 private:
  std::vector<std::unique_ptr<char[]>> blocks_;
  size_t block_size_;
  char* free_ = nullptr;  // the rest of the last block
  size_t left_ = 0;
};

// Text written to fd with write(2), through one buffer of `capacity` bytes: written when full,
// and by flush() and the destructor. Text longer than the buffer goes out in pieces.
class OutputBuffer {
 public:
  explicit OutputBuffer(int fd, size_t capacity = size_t{16} * 1024);
  ~OutputBuffer();
  OutputBuffer(const OutputBuffer&) = delete;
  OutputBuffer& operator=(const OutputBuffer&) = delete;

  void put(std::string_view text);
  void put(char c) { put(std::string_view(&c, 1)); }
  void spaces(size_t n);
  // Writes what is buffered. False once a write(2) failed (a reader that closed its pipe, with
  // SIGPIPE ignored): what follows is dropped, as stdio drops it.
  bool flush();

 private:
  int fd_;
  std::unique_ptr<char[]> buffer_;
  size_t capacity_;
  size_t used_ = 0;
  bool failed_ = false;
};

// Columns as wide as their widest cell, kColumnGap spaces apart, the last column unpadded:
// what docker's tabwriter prints for `docker ps`. Widths are counted in bytes, as mycontainer's
// ps always did (a multibyte character, such as the "…" of a shortened command, counts its
// bytes). Two passes: widen() with every row, then write() each.
class TableLayout {
 public:
  static constexpr size_t kColumnGap = 3;
  // The header is the first row, and says how many columns there are.
  explicit TableLayout(std::span<const std::string_view> header);
  void widen(std::span<const std::string_view> row);
  // One line: the row's cells padded to their column's width, then '\n'.
  void write(OutputBuffer& out, std::span<const std::string_view> row) const;
  size_t width(size_t column) const { return widths_.at(column); }

 private:
  std::vector<size_t> widths_;
};

}  // namespace mycontainer

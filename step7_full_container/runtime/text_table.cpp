#include "runtime/text_table.hpp"

#include <unistd.h>  // write(2)

#include <algorithm>
#include <cerrno>
#include <cstring>  // std::memcpy, std::memset

namespace mycontainer {

std::string_view TextArena::keep(std::string_view text) {
  if (text.empty()) return {};
  if (text.size() > left_) {
    // A new block; a text longer than a block gets one of its own size. `new char[]` leaves
    // the bytes as they are: only the pages written to are ever touched.
    const size_t size = std::max(block_size_, text.size());
    blocks_.emplace_back(new char[size]);
    free_ = blocks_.back().get();
    left_ = size;
  }
  std::memcpy(free_, text.data(), text.size());
  const std::string_view kept(free_, text.size());
  free_ += text.size();
  left_ -= text.size();
  return kept;
}

OutputBuffer::OutputBuffer(int fd, size_t capacity)
    : fd_(fd),
      buffer_(new char[std::max<size_t>(capacity, 1)]),
      capacity_(std::max<size_t>(capacity, 1)) {}

OutputBuffer::~OutputBuffer() {
  flush();
}

namespace {

// The whole of [data, data + size) to fd, write(2) after write(2) (a pipe may take less).
bool write_all(int fd, const char* data, size_t size) {
  while (size > 0) {
    const ssize_t n = ::write(fd, data, size);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    data += n;
    size -= static_cast<size_t>(n);
  }
  return true;
}

}  // namespace

bool OutputBuffer::flush() {
  if (!failed_ && used_ > 0 && !write_all(fd_, buffer_.get(), used_)) failed_ = true;
  used_ = 0;
  return !failed_;
}

void OutputBuffer::put(std::string_view text) {
  if (text.empty()) return;  // an empty cell's view may have no data at all: memcpy wants one
  if (text.size() > capacity_ - used_) {
    flush();
    if (text.size() >= capacity_) {  // never fits: straight out, not copied in pieces
      if (!failed_ && !write_all(fd_, text.data(), text.size())) failed_ = true;
      return;
    }
  }
  std::memcpy(buffer_.get() + used_, text.data(), text.size());
  used_ += text.size();
}

void OutputBuffer::spaces(size_t n) {
  while (n > 0) {
    if (used_ == capacity_) flush();
    const size_t k = std::min(n, capacity_ - used_);
    std::memset(buffer_.get() + used_, ' ', k);
    used_ += k;
    n -= k;
  }
}

TableLayout::TableLayout(std::span<const std::string_view> header) : widths_(header.size()) {
  widen(header);
}

void TableLayout::widen(std::span<const std::string_view> row) {
  for (size_t i = 0; i < widths_.size() && i < row.size(); ++i) {
    widths_[i] = std::max(widths_[i], row[i].size());
  }
}

void TableLayout::write(OutputBuffer& out, std::span<const std::string_view> row) const {
  const size_t n = std::min(widths_.size(), row.size());
  for (size_t i = 0; i < n; ++i) {
    out.put(row[i]);
    // (A cell wider than its column, never widened with, is followed by the gap alone.)
    if (i + 1 < n) out.spaces(widths_[i] - std::min(widths_[i], row[i].size()) + kColumnGap);
  }
  out.put('\n');
}

}  // namespace mycontainer

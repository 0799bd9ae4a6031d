#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "sources/unix/socket.hpp"
#include "temp_dir.hpp"

namespace fs = std::filesystem;
using namespace sluice::unixsock;

namespace {

using sluice::test::TempDir;

// A socket file nobody listens on any more: bound, then closed without unlink.
void make_stale(const std::string& path) {
    const int fd = ::socket(AF_UNIX, SOCK_STREAM, 0);
    sockaddr_un a{};
    a.sun_family = AF_UNIX;
    std::snprintf(a.sun_path, sizeof a.sun_path, "%s", path.c_str());
    ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
    ::close(fd);
}

bool can_connect(const std::string& path, int type) {
    const int fd = ::socket(AF_UNIX, type, 0);
    sockaddr_un a{};
    a.sun_family = AF_UNIX;
    std::snprintf(a.sun_path, sizeof a.sun_path, "%s", path.c_str());
    const bool ok = ::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
    ::close(fd);
    return ok;
}

}  // namespace

TEST(UnixSocket, BindsCreatesWithModeAndRemovesOnClose) {
    TempDir d;
    const auto path = d.file("s.sock");
    auto r = bind_socket({.path = path, .type = SocketType::Stream, .mode = 0600});
    ASSERT_TRUE(r.socket) << r.error;
    struct stat st {};
    ASSERT_EQ(::lstat(path.c_str(), &st), 0);
    EXPECT_TRUE(S_ISSOCK(st.st_mode));
    EXPECT_EQ(st.st_mode & 0777, 0600u);
    EXPECT_TRUE(can_connect(path, SOCK_STREAM));
    r.socket->close();
    EXPECT_FALSE(fs::exists(fs::symlink_status(path)));
    r.socket->close();  // idempotent
}

TEST(UnixSocket, StaleSocketIsReplaced) {
    TempDir d;
    const auto path = d.file("s.sock");
    make_stale(path);
    ASSERT_TRUE(fs::is_socket(path));
    auto r = bind_socket({.path = path});
    ASSERT_TRUE(r.socket) << r.error;
    EXPECT_TRUE(can_connect(path, SOCK_STREAM));
}

TEST(UnixSocket, LiveSocketIsRefusedAndLeftAlone) {
    TempDir d;
    const auto path = d.file("s.sock");
    auto first = bind_socket({.path = path});
    ASSERT_TRUE(first.socket) << first.error;
    auto second = bind_socket({.path = path});
    EXPECT_FALSE(second.socket);
    EXPECT_NE(second.error.find("in use by a running process"), std::string::npos) << second.error;
    EXPECT_TRUE(can_connect(path, SOCK_STREAM)) << "the live socket must survive the refused attempt";

    // A live datagram socket is in use for a stream source too.
    const auto dpath = d.file("d.sock");
    auto dgram = bind_socket({.path = dpath, .type = SocketType::Datagram});
    ASSERT_TRUE(dgram.socket) << dgram.error;
    auto stream = bind_socket({.path = dpath, .type = SocketType::Stream});
    EXPECT_FALSE(stream.socket);
    EXPECT_NE(stream.error.find("in use"), std::string::npos) << stream.error;
    EXPECT_TRUE(can_connect(dpath, SOCK_DGRAM));
}

TEST(UnixSocket, NonSocketFileIsRefusedAndKept) {
    TempDir d;
    const auto path = d.file("data.txt");
    std::ofstream(path) << "precious";
    auto r = bind_socket({.path = path});
    EXPECT_FALSE(r.socket);
    EXPECT_NE(r.error.find("not a socket"), std::string::npos) << r.error;
    std::ifstream in(path);
    std::string s;
    in >> s;
    EXPECT_EQ(s, "precious");

    fs::create_directory(d.file("dir"));
    EXPECT_FALSE(bind_socket({.path = d.file("dir")}).socket);
    EXPECT_TRUE(fs::is_directory(d.file("dir")));
}

TEST(UnixSocket, CloseLeavesAReplacementAlone) {
    TempDir d;
    const auto path = d.file("s.sock");
    auto r = bind_socket({.path = path});
    ASSERT_TRUE(r.socket);
    // Someone else removed our file and put theirs there.
    fs::remove(path);
    make_stale(path);
    struct stat before {};
    ::lstat(path.c_str(), &before);
    r.socket->close();
    struct stat after {};
    ASSERT_EQ(::lstat(path.c_str(), &after), 0);
    EXPECT_EQ(before.st_ino, after.st_ino);
}

TEST(UnixSocket, DatagramBind) {
    TempDir d;
    const auto path = d.file("g.sock");
    auto r = bind_socket({.path = path, .type = SocketType::Datagram});
    ASSERT_TRUE(r.socket) << r.error;
    EXPECT_TRUE(can_connect(path, SOCK_DGRAM));
}

TEST(UnixSocket, MissingDirectoryAndLongPathAreErrors) {
    TempDir d;
    auto r = bind_socket({.path = d.file("no/such/dir.sock")});
    EXPECT_FALSE(r.socket);
    EXPECT_FALSE(r.error.empty());
    auto longer = bind_socket({.path = "/tmp/" + std::string(200, 'x')});
    EXPECT_FALSE(longer.socket);
    EXPECT_NE(longer.error.find("too long"), std::string::npos);
}

TEST(UnixSocket, ParseMode) {
    EXPECT_EQ(parse_mode("0660"), 0660u);
    EXPECT_EQ(parse_mode("660"), 0660u);
    EXPECT_EQ(parse_mode("0o600"), 0600u);
    EXPECT_EQ(parse_mode("0777"), 0777u);
    EXPECT_FALSE(parse_mode("0800"));
    EXPECT_FALSE(parse_mode("1777"));
    EXPECT_FALSE(parse_mode("rw"));
    EXPECT_FALSE(parse_mode(""));
}

TEST(UnixSocket, ParseGroup) {
    TempDir d;
    const auto groups = d.file("group");
    std::ofstream(groups) << "root:x:0:\nsensors:x:1234:alice,bob\nbroken:x\n";
    EXPECT_EQ(parse_group("20", groups).gid, 20u);
    EXPECT_EQ(parse_group("sensors", groups).gid, 1234u);
    EXPECT_EQ(parse_group("root", groups).gid, 0u);
    auto missing = parse_group("nobody-here", groups);
    EXPECT_FALSE(missing.gid);
    EXPECT_NE(missing.error.find("numeric gid"), std::string::npos);
    EXPECT_FALSE(parse_group("broken", groups).gid);
    EXPECT_FALSE(parse_group("", groups).gid);
}

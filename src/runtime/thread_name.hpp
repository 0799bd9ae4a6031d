#pragma once

#include <pthread.h>

#include <string>

namespace sluice {

// Names the calling thread (top, gdb, /proc). Linux keeps 15 characters.
inline void name_thread(const std::string& name) {
    pthread_setname_np(pthread_self(), name.substr(0, 15).c_str());
}

}  // namespace sluice

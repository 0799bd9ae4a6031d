// Static builds only (SLUICE_STATIC=ON; src/CMakeLists.txt links this file
// straight into every executable, so its constructor is not dropped the way a
// static library's would be).
//
// A statically linked glibc still reads /etc/nsswitch.conf, and for any
// service there other than "files" and "dns" (which are built in) it
// dlopen()s libnss_<service>.so.2 from the target's own glibc. That works only
// when the target's glibc is the very version sluice was linked with, and a
// listed module that is not installed turns "no such host" into "System
// error". So host names
// resolve through /etc/hosts, then DNS (/etc/resolv.conf), for every library
// in the process (sluice's HTTP client, Paho, librdkafka, libzmq).
// SLUICE_NSS_HOSTS sets another service line ("files dns myhostname"), or
// "nsswitch" keeps /etc/nsswitch.conf as it is.

#include <cstdlib>
#include <cstring>
#include <nss.h>

namespace {

__attribute__((constructor)) void sluice_static_name_lookup() {
    const char* line = std::getenv("SLUICE_NSS_HOSTS");
    if (line != nullptr && std::strcmp(line, "nsswitch") == 0) {
        return;
    }
    __nss_configure_lookup("hosts", line != nullptr && *line != '\0' ? line : "files dns");
}

}  // namespace

// The shared TLS option group (core/tls_options.hpp): its defaults and the
// checks of tls_config_from.

#include <gtest/gtest.h>

#include "config/resolve.hpp"
#include "core/tls_options.hpp"

namespace sluice {
namespace {

Options resolve_tls(RawTable t) {
    const auto specs = tls_option_specs();
    Diagnostics diag;
    Options o = resolve_options(specs, t, "sink 'x'", {}, diag);
    EXPECT_TRUE(diag.empty()) << diag.str();
    return o;
}

std::string config_error(RawTable t) {
    try {
        tls_config_from(resolve_tls(std::move(t)));
    } catch (const ConfigError& e) {
        return e.what();
    }
    return "";
}

TEST(TlsOptions, OneVocabulary) {
    const auto specs = tls_option_specs();
    ASSERT_EQ(specs.size(), std::size(kTlsOptionNames));
    for (std::size_t i = 0; i < specs.size(); ++i) {
        EXPECT_EQ(specs[i].name, kTlsOptionNames[i]);
    }
    EXPECT_EQ(specs[4].type, OptionType::Secret);  // key_password
}

TEST(TlsOptions, SecureByDefault) {
    const TlsConfig t = tls_config_from(resolve_tls({}));
    EXPECT_TRUE(t.verify_hostname);
    EXPECT_FALSE(t.insecure_skip_verify);
    EXPECT_TRUE(t.ca_file.empty());
    EXPECT_FALSE(t.any_file());
}

TEST(TlsOptions, Reads) {
    const TlsConfig t = tls_config_from(resolve_tls(
        {text_entry("ca_path", "/etc/ssl/certs"), text_entry("cert_file", "/c.pem"), text_entry("key_file", "/k.pem"),
         text_entry("key_password", "pw"), text_entry("server_name", "broker.example"),
         text_entry("verify_hostname", "false")}));
    EXPECT_EQ(t.ca_path, "/etc/ssl/certs");
    EXPECT_EQ(t.cert_file, "/c.pem");
    EXPECT_EQ(t.key_file, "/k.pem");
    EXPECT_EQ(t.key_password, "pw");
    EXPECT_EQ(t.server_name, "broker.example");
    EXPECT_FALSE(t.verify_hostname);
}

TEST(TlsOptions, CrossChecks) {
    EXPECT_NE(config_error({text_entry("cert_file", "/c.pem")}).find("cert_file and key_file go together"),
              std::string::npos);
    EXPECT_NE(config_error({text_entry("key_file", "/k.pem")}).find("cert_file and key_file go together"),
              std::string::npos);
    EXPECT_NE(config_error({text_entry("key_password", "pw")}).find("no key_file"), std::string::npos);
    EXPECT_EQ(config_error({text_entry("key_password", "pw")}).find("pw"), std::string::npos);
    EXPECT_NE(config_error({text_entry("insecure_skip_verify", "true"), text_entry("ca_file", "/ca.pem")})
                  .find("insecure_skip_verify = true ignores ca_file/ca_path"),
              std::string::npos);
    EXPECT_EQ(config_error({text_entry("insecure_skip_verify", "true")}), "");
}

}  // namespace
}  // namespace sluice

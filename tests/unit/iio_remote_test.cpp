// The libiio side of the iio source. Without libiio, open_remote says how to
// get it. With libiio, an XML context (no hardware, no iiod) checks device
// and channel lookup; its attribute reads fail, which must be an error value.
#include <cstdio>
#include <fstream>
#include <string>
#include <unistd.h>

#include <gtest/gtest.h>

#include "sources/iio/remote.hpp"

namespace sluice::iio {
namespace {

#ifndef SLUICE_HAVE_LIBIIO

TEST(IioRemote, WithoutLibiioSaysHowToGetIt) {
    EXPECT_FALSE(have_libiio());
    auto r = open_remote("ip:192.168.1.10", "ads1015", {"in_voltage0"});
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error, "this build has no libiio; remote contexts need -DSLUICE_WITH_LIBIIO=ON");
}

#else

TEST(IioRemote, XmlContextLookupsAndFailingReads) {
    ASSERT_TRUE(have_libiio());
    const std::string path = "/tmp/sluice-iio-remote-" + std::to_string(::getpid()) + ".xml";
    std::ofstream(path) << R"(<?xml version="1.0" encoding="utf-8"?>
<!DOCTYPE context [<!ELEMENT context (device)*><!ELEMENT device (channel)*><!ELEMENT channel (attribute)*>
<!ELEMENT attribute EMPTY><!ATTLIST context name CDATA #REQUIRED><!ATTLIST device id CDATA #REQUIRED name CDATA #IMPLIED>
<!ATTLIST channel id CDATA #REQUIRED type (input|output) #REQUIRED name CDATA #IMPLIED>
<!ATTLIST attribute name CDATA #REQUIRED filename CDATA #IMPLIED>]>
<context name="xml"><device id="iio:device0" name="ads1015"><channel id="voltage0" type="input">
<attribute name="raw" filename="in_voltage0_raw"/><attribute name="scale" filename="in_voltage_scale"/>
</channel></device></context>)";
    const std::string uri = "xml:" + path;
    auto missing = open_remote(uri, "bme280", {"in_voltage0"});
    ASSERT_FALSE(missing);
    EXPECT_NE(missing.error.find("no IIO device 'bme280'"), std::string::npos) << missing.error;
    auto no_channel = open_remote(uri, "ads1015", {"in_temp"});
    ASSERT_FALSE(no_channel);
    EXPECT_NE(no_channel.error.find("no channel 'in_temp'"), std::string::npos) << no_channel.error;
    auto r = open_remote(uri, "ads1015", {"in_voltage0"});
    ASSERT_TRUE(r) << r.error;
    EXPECT_EQ((*r.value)->id(), "iio:device0");
    EXPECT_EQ((*r.value)->name(), "ads1015");
    EXPECT_EQ((*r.value)->units(), std::vector<std::string>{"mV"});
    const auto values = (*r.value)->read();
    ASSERT_EQ(values.size(), 1u);
    EXPECT_FALSE(values[0]);  // the XML backend cannot read attributes
    EXPECT_NE(values[0].error.find("in_voltage0_raw"), std::string::npos) << values[0].error;
    std::remove(path.c_str());
}

#endif

}  // namespace
}  // namespace sluice::iio

#pragma once

// Plain HTTP/1.0 over loopback TCP for tests of the metrics endpoint.

#include <string>

namespace anchord::testing {

// A TCP connection to 127.0.0.1:port with a 3 s receive timeout; -1 when
// it could not be made.
int ConnectLoopbackTcp(int port);

// Sends `request` on `fd`, reads until the server closes or the receive
// timeout passes, and closes `fd`. The response; "" when fd < 0 or the
// send failed.
std::string HttpExchange(int fd, const std::string& request);

// GET `path` from 127.0.0.1:port: the whole response, "" on failure.
std::string HttpGet(int port, const std::string& path = "/metrics");

// The port of "host:port".
int PortOf(const std::string& host_port);

}  // namespace anchord::testing

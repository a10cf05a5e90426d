/* --health-check: a tiny HTTP client for container HEALTHCHECKs, so the image needs no curl.
 * Main thread; blocks for at most timeout_ms. */
#pragma once

/* GETs /healthz from addr ("127.0.0.1:8080", "[::1]:8080") and returns 0 when it answers 200,
 * or a negative errno (-ETIMEDOUT, -ECONNREFUSED, -EPROTO for another status). */
int iob_health_check(const char *addr, int timeout_ms);

/* The canned answer both engines give a connection they will not serve (over max_connections, no
 * thread, no memory). Any engine thread; never blocks. */
#pragma once

/* Sends the 503 with Retry-After: 1 on fd (best effort, non-blocking), closes fd and counts it in
 * iobound_connections_rejected_total. Takes ownership of fd. */
void iob_engine_reject(int fd);

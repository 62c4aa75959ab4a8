/* The tests' virtual clock, shared with OpenSSL.
 *
 * OpenSSL's DTLS keeps its retransmission deadline with gettimeofday(), so a
 * test that drives DTLS on a virtual clock must give OpenSSL that clock too:
 * test executables define gettimeofday() to return the virtual time once
 * vclock_set() has been called (the real time before). Product code never
 * links this file; there the caller's clock and the wall clock advance
 * together. */
#ifndef PARLEY_TEST_VCLOCK_H
#define PARLEY_TEST_VCLOCK_H

#include <stdint.h>

void vclock_set(int64_t now_us);

#endif

#ifndef PBT_CPROCESSSHIMS_H
#define PBT_CPROCESSSHIMS_H
#ifdef __linux__
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <sched.h>
#endif
/* prctl is variadic, which Swift cannot call: one fixed-argument wrapper for it. */
#ifdef __linux__
#include <sys/prctl.h>
#endif

/* Asks the kernel to send `signal` to this process when the thread that spawned it exits.
   Returns 0 on success, -1 with errno set, and 0 where the call does not exist. */
static inline int pbt_set_parent_death_signal(int signal) {
#ifdef __linux__
    return prctl(PR_SET_PDEATHSIG, (unsigned long)signal, 0UL, 0UL, 0UL);
#else
    (void)signal;
    return 0;
#endif
}

/* Names the calling thread (what top -H, ps -L and perf show; the kernel keeps 15 bytes). */
static inline int pbt_set_thread_name(const char *name) {
#ifdef __linux__
    return prctl(PR_SET_NAME, (unsigned long)name, 0UL, 0UL, 0UL);
#else
    (void)name;
    return 0;
#endif
}

/* The CPUs this process may run on (its affinity mask, which taskset and docker --cpuset-cpus
   narrow), or 0 when it cannot be read. CPU_COUNT is a macro, which Swift cannot call. */
static inline int pbt_allowed_cpus(void) {
#ifdef __linux__
    cpu_set_t set;
    CPU_ZERO(&set);
    if (sched_getaffinity(0, sizeof(set), &set) != 0) return 0;
    return CPU_COUNT(&set);
#else
    return 0;
#endif
}
#endif

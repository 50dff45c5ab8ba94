#ifndef PBT_CPROCESSSHIMS_H
#define PBT_CPROCESSSHIMS_H
#ifdef __linux__
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <sched.h>
#endif
/* prctl is variadic, which Swift cannot call: one fixed-argument wrapper for the options that
   take one argument (PR_SET_PDEATHSIG: a signal; PR_SET_NAME: a pointer to the name).
   Returns 0 on success, -1 with errno set, and 0 where the call does not exist. */
#ifdef __linux__
#include <sys/prctl.h>
#define PBT_PR_SET_PDEATHSIG PR_SET_PDEATHSIG
#define PBT_PR_SET_NAME PR_SET_NAME
#else
#define PBT_PR_SET_PDEATHSIG 1
#define PBT_PR_SET_NAME 15
#endif
static inline int pbt_prctl(int option, unsigned long argument) {
#ifdef __linux__
    return prctl(option, argument, 0UL, 0UL, 0UL);
#else
    (void)option;
    (void)argument;
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

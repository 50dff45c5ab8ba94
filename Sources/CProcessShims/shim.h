#ifndef PBT_CPROCESSSHIMS_H
#define PBT_CPROCESSSHIMS_H
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
#endif

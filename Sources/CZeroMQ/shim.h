#ifndef PBT_CZEROMQ_SHIM_H
#define PBT_CZEROMQ_SHIM_H
#include <zmq.h>
#endif

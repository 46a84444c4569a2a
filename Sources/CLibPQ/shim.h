#ifndef NKUDO_CLIBPQ_SHIM_H
#define NKUDO_CLIBPQ_SHIM_H

#include <libpq-fe.h>

#endif

/* Version, status codes and the thread-local text of the last failure. */
#include <stdarg.h>
#include <stdio.h>

#include "internal.h"

static PA_THREAD_LOCAL char last_error[512];

int pa_fail(int status, const char *fmt, ...)
{
    va_list args;
    va_start(args, fmt);
    vsnprintf(last_error, sizeof last_error, fmt, args);
    va_end(args);
    return status;
}

const char *pa_last_error(void) { return last_error; }

const char *pa_status_name(int status)
{
    switch (status) {
    case PA_OK: return "PA_OK";
    case PA_EINVAL: return "PA_EINVAL";
    case PA_ENOMEM: return "PA_ENOMEM";
    case PA_EUNSUPPORTED: return "PA_EUNSUPPORTED";
    case PA_EINTERNAL: return "PA_EINTERNAL";
    default: return "PA_UNKNOWN";
    }
}

const char *pa_version(void) { return PANATTN_VERSION; }

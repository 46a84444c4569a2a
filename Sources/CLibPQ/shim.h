#ifndef NKUDO_CLIBPQ_SHIM_H
#define NKUDO_CLIBPQ_SHIM_H

#include <libpq-fe.h>

/// Whether libpq can parse `conninfo` (a `postgres://` URI or `key=value` pairs).
/// libpq's parse error is dropped: it may quote the URI, password included.
static inline int nkudo_pq_conninfo_is_valid(const char *conninfo) {
    char *error = NULL;
    PQconninfoOption *options = PQconninfoParse(conninfo, &error);
    if (error != NULL) {
        PQfreemem(error);
    }
    if (options == NULL) {
        return 0;
    }
    PQconninfoFree(options);
    return 1;
}

/// The SQLSTATE of a failed result (`PG_DIAG_SQLSTATE` is a character macro Swift
/// does not import); NULL when libpq reported none.
static inline const char *nkudo_pq_result_sqlstate(const PGresult *result) {
    return PQresultErrorField(result, PG_DIAG_SQLSTATE);
}

/// The primary message of a failed result, without DETAIL (which may quote row values);
/// NULL when absent.
static inline const char *nkudo_pq_result_primary_message(const PGresult *result) {
    return PQresultErrorField(result, PG_DIAG_MESSAGE_PRIMARY);
}

/// The severity of a notice or error, never localized (`WARNING`, `NOTICE`, …).
static inline const char *nkudo_pq_result_severity(const PGresult *result) {
    return PQresultErrorField(result, PG_DIAG_SEVERITY_NONLOCALIZED);
}

#endif

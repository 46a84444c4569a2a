#ifndef NKUDO_COPENSSL_SHIM_H
#define NKUDO_COPENSSL_SHIM_H

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/sha.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

/* Function-like macros of OpenSSL, as functions Swift can call. */

/* BIO_get_mem_data: the bytes held by a memory BIO (not NUL-terminated); returns their count. */
static inline long nkudo_BIO_get_mem_data(BIO *bio, char **data) {
    return BIO_get_mem_data(bio, data);
}

/* OPENSSL_free: frees memory OpenSSL allocated for the caller (BN_bn2dec, ASN1_STRING_to_UTF8). */
static inline void nkudo_OPENSSL_free(void *pointer) {
    OPENSSL_free(pointer);
}

static inline int nkudo_sk_GENERAL_NAME_num(const GENERAL_NAMES *names) {
    return sk_GENERAL_NAME_num(names);
}

static inline GENERAL_NAME *nkudo_sk_GENERAL_NAME_value(const GENERAL_NAMES *names, int index) {
    return sk_GENERAL_NAME_value(names, index);
}

/* Returns the new count, or 0 on failure; on success the stack owns `name`. */
static inline int nkudo_sk_GENERAL_NAME_push(GENERAL_NAMES *names, GENERAL_NAME *name) {
    return sk_GENERAL_NAME_push(names, name);
}

/*
 * SHA-256 through OpenSSL's SHA256_* functions, not EVP. EVP's first digest fetches the
 * algorithm from the default provider, which initialises OpenSSL's provider, name-map and
 * property machinery: 1.8 MiB more of libcrypto's pages resident in a process that needs
 * nothing else of OpenSSL (the edge agent at run time), and a method-store lookup on every
 * EVP_Digest. OpenSSL 3 marks these functions deprecated in favour of EVP; they compute the
 * same SHA-256 and stay in the 3.x library.
 */
#pragma clang diagnostic push
#pragma clang diagnostic ignored "-Wdeprecated-declarations"
static inline int nkudo_SHA256_Init(SHA256_CTX *context) {
    return SHA256_Init(context);
}

static inline int nkudo_SHA256_Update(SHA256_CTX *context, const void *bytes, size_t count) {
    return SHA256_Update(context, bytes, count);
}

/* Writes the 32-byte digest to `digest`. */
static inline int nkudo_SHA256_Final(unsigned char *digest, SHA256_CTX *context) {
    return SHA256_Final(digest, context);
}
#pragma clang diagnostic pop

#endif

#ifndef NKUDO_CPROTOBUFC_SHIM_H
#define NKUDO_CPROTOBUFC_SHIM_H

#include <protobuf-c/protobuf-c.h>

/// The magic number protobuf-c checks in every message descriptor (a macro in C).
static inline uint32_t nkudo_protobuf_c_message_descriptor_magic(void) {
    return PROTOBUF_C__MESSAGE_DESCRIPTOR_MAGIC;
}

/// The magic number protobuf-c checks in every enum descriptor (a macro in C).
static inline uint32_t nkudo_protobuf_c_enum_descriptor_magic(void) {
    return PROTOBUF_C__ENUM_DESCRIPTOR_MAGIC;
}

#endif

// OpenSSL's object types by their struct names, for headers that pass them along without
// including OpenSSL: SSL_CTX is ssl_ctx_st, SSL is ssl_st, X509 is x509_st, STACK_OF(X509) is
// stack_st_X509, X509_STORE_CTX is x509_store_ctx_st, EVP_PKEY is evp_pkey_st. Typed instead of void*, so a wrong
// object is a compile error.
#pragma once

struct ssl_ctx_st;
struct ssl_st;
struct x509_st;
struct stack_st_X509;
struct x509_store_ctx_st;
struct evp_pkey_st;

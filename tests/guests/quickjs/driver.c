/* A small QuickJS-ng host: evaluates each JavaScript file named on the command line in one fresh
 * context, with a global `print(...)` that writes its arguments, space-separated, and a newline.
 * Each file runs in its own context. Before each file it prints `--- FILE` (the file's last path component); an uncaught exception
 * prints `uncaught: MESSAGE`. Pending jobs (promise reactions) run after each file. The exit
 * status is 0 if no file threw, else 1. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "quickjs.h"

static JSValue js_print(JSContext *ctx, JSValueConst this_val, int argc, JSValueConst *argv) {
    (void)this_val;
    for (int i = 0; i < argc; i++) {
        const char *text = JS_ToCString(ctx, argv[i]);
        if (!text)
            return JS_EXCEPTION;
        printf("%s%s", i ? " " : "", text);
        JS_FreeCString(ctx, text);
    }
    printf("\n");
    return JS_UNDEFINED;
}

static char *read_file(const char *path, size_t *len) {
    FILE *file = fopen(path, "rb");
    if (!file)
        return NULL;
    fseek(file, 0, SEEK_END);
    long size = ftell(file);
    fseek(file, 0, SEEK_SET);
    char *text = malloc((size_t)size + 1);
    *len = fread(text, 1, (size_t)size, file);
    text[*len] = '\0';
    fclose(file);
    return text;
}

/* Prints the pending exception; returns 1 so callers can count failures. */
static int report_exception(JSContext *ctx) {
    JSValue error = JS_GetException(ctx);
    const char *text = JS_ToCString(ctx, error);
    printf("uncaught: %s\n", text ? text : "(exception without a message)");
    JS_FreeCString(ctx, text);
    JS_FreeValue(ctx, error);
    return 1;
}

static int run_jobs(JSRuntime *rt) {
    JSContext *job_ctx;
    int failures = 0, status;
    while ((status = JS_ExecutePendingJob(rt, &job_ctx)) != 0)
        if (status < 0)
            failures += report_exception(job_ctx);
    return failures;
}

/* Runs one file in a fresh context (its global declarations do not meet the next file's). */
static int run_file(JSRuntime *rt, const char *path) {
    const char *slash = strrchr(path, '/');
    printf("--- %s\n", slash ? slash + 1 : path);
    size_t len;
    char *source = read_file(path, &len);
    if (!source) {
        printf("cannot read %s\n", path);
        return 1;
    }
    JSContext *ctx = JS_NewContext(rt);
    JSValue global = JS_GetGlobalObject(ctx);
    JS_SetPropertyStr(ctx, global, "print", JS_NewCFunction(ctx, js_print, "print", 1));
    JS_FreeValue(ctx, global);
    JSValue result = JS_Eval(ctx, source, len, path, JS_EVAL_TYPE_GLOBAL);
    free(source);
    int failures = JS_IsException(result) ? report_exception(ctx) : 0;
    JS_FreeValue(ctx, result);
    failures += run_jobs(rt);
    JS_FreeContext(ctx);
    return failures;
}

int main(int argc, char **argv) {
    JSRuntime *rt = JS_NewRuntime();
    int failures = 0;
    for (int i = 1; i < argc; i++)
        failures += run_file(rt, argv[i]);
    fflush(stdout);
    JS_FreeRuntime(rt);
    return failures ? 1 : 0;
}

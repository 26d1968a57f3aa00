/* SQLite in memory, the `execute` group's SQLite workload: creates a table in a `:memory:`
 * database, inserts ROWS rows in one transaction, indexes them, runs aggregate, sorted, indexed,
 * LIKE/GLOB, recursive and JSON queries, updates and deletes, and checks integrity. No file is
 * touched. The checksum is FNV-1a over the text of every result cell (SQLite's own conversion,
 * so native and Wasm builds agree) and the change counts. Follows kernel.h's contract: `run`
 * is called after SQLite is initialised, and only the workload is between bench_start and
 * bench_end. Built with the amalgamation of crates.io's libsqlite3-sys at bench time. */
#include <stdio.h>
#include <string.h>

#include "kernel.h"
#include "sqlite3.h"

#define ROWS 3500

static uint32_t checksum;
static int failed;

/* Mixes `len` bytes into the checksum. */
static void mix(const void *bytes, size_t len) {
    const uint8_t *p = bytes;
    for (size_t i = 0; i < len; i++) checksum = (checksum ^ p[i]) * 16777619u;
}

static void mix_int(int value) {
    char text[16];
    mix(text, (size_t)snprintf(text, sizeof text, "%d;", value));
}

static void exec(sqlite3 *db, const char *sql) {
    if (sqlite3_exec(db, sql, NULL, NULL, NULL) != SQLITE_OK) failed = 1;
}

/* Runs a query and mixes the text of every cell of every row. */
static void query(sqlite3 *db, const char *sql) {
    sqlite3_stmt *stmt;
    if (sqlite3_prepare_v2(db, sql, -1, &stmt, NULL) != SQLITE_OK) {
        failed = 1;
        return;
    }
    int rc;
    while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
        for (int i = 0; i < sqlite3_column_count(stmt); i++) {
            const unsigned char *text = sqlite3_column_text(stmt, i);
            if (text) mix(text, (size_t)sqlite3_column_bytes(stmt, i));
            mix("|", 1);
        }
    }
    if (rc != SQLITE_DONE) failed = 1;
    sqlite3_finalize(stmt);
}

/* ROWS rows from a linear congruential generator, in one transaction. */
static void insert_rows(sqlite3 *db) {
    sqlite3_stmt *stmt;
    const char *sql = "INSERT INTO items(id, name, grp, value, payload) VALUES (?, ?, ?, ?, ?)";
    if (sqlite3_prepare_v2(db, sql, -1, &stmt, NULL) != SQLITE_OK) {
        failed = 1;
        return;
    }
    exec(db, "BEGIN");
    uint32_t state = 12345;
    char name[32], payload[64];
    for (int i = 1; i <= ROWS; i++) {
        state = state * 1103515245u + 12345u;
        snprintf(name, sizeof name, "item-%06d", (int)((state >> 8) % 1000000));
        snprintf(payload, sizeof payload, "payload %d of %d", i, ROWS);
        sqlite3_bind_int(stmt, 1, i);
        sqlite3_bind_text(stmt, 2, name, -1, SQLITE_TRANSIENT);
        sqlite3_bind_int(stmt, 3, (int)((state >> 16) % 100));
        sqlite3_bind_double(stmt, 4, (double)((state >> 4) % 1000000) / 100.0);
        sqlite3_bind_text(stmt, 5, payload, -1, SQLITE_TRANSIENT);
        if (sqlite3_step(stmt) != SQLITE_DONE) failed = 1;
        sqlite3_reset(stmt);
    }
    exec(db, "COMMIT");
    sqlite3_finalize(stmt);
}

static void queries(sqlite3 *db) {
    query(db, "SELECT count(*), sum(grp), min(value), max(value), round(avg(value), 4) FROM items");
    query(db, "SELECT grp, count(*), round(sum(value), 2) FROM items GROUP BY grp ORDER BY grp");
    query(db, "SELECT id, name, value FROM items ORDER BY value DESC, id LIMIT 50");
    query(db, "SELECT count(*) FROM items WHERE grp = 42");
    query(db, "SELECT id, name FROM items WHERE name BETWEEN 'item-500000' AND 'item-520000' "
              "ORDER BY name, id");
    query(db, "SELECT count(*) FROM items WHERE payload LIKE '%00 of %' AND name GLOB 'item-9*'");
    query(db, "SELECT a.grp, count(*) FROM items a JOIN items b ON a.id = b.id + 1 "
              "WHERE a.grp = b.grp GROUP BY a.grp ORDER BY a.grp");
    query(db, "WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n WHERE x < 1000) "
              "SELECT group_concat(x * x, ','), sum(x) FROM n");
    query(db, "SELECT json_object('grp', grp, 'n', count(*)) FROM items WHERE grp < 10 GROUP BY grp");
    query(db, "SELECT printf('%.3f', 1.0 / 3), 7 / 2, 7 % 3, -7 / 2, upper(substr(name, 6)) "
              "FROM items WHERE id % 500 = 0");
}

static void changes(sqlite3 *db) {
    exec(db, "BEGIN");
    exec(db, "UPDATE items SET value = value * 2 WHERE id % 100 = 0");
    mix_int(sqlite3_changes(db));
    exec(db, "DELETE FROM items WHERE grp = 13");
    mix_int(sqlite3_changes(db));
    exec(db, "COMMIT");
    exec(db, "BEGIN");
    exec(db, "DELETE FROM items");
    exec(db, "ROLLBACK");
    query(db, "SELECT count(*), round(sum(value), 2) FROM items");
    query(db, "PRAGMA integrity_check");
}

KERNEL {
    checksum = 2166136261u;
    failed = sqlite3_initialize() != SQLITE_OK;
    bench_start();
    sqlite3 *db;
    if (sqlite3_open(":memory:", &db) != SQLITE_OK) failed = 1;
    exec(db, "CREATE TABLE items(id INTEGER PRIMARY KEY, name TEXT NOT NULL, grp INTEGER, "
             "value REAL, payload TEXT)");
    insert_rows(db);
    exec(db, "CREATE INDEX items_grp ON items(grp)");
    exec(db, "CREATE INDEX items_name ON items(name)");
    queries(db);
    changes(db);
    if (sqlite3_close(db) != SQLITE_OK) failed = 1;
    bench_end();
    return failed ? 0 : checksum;
}

/* A small SQLite workload: creates a table in the database file argv[1], inserts 100,000 rows in
 * one transaction, indexes them, runs queries, updates and deletes, checks integrity, closes,
 * reopens and counts again. Every value printed comes from SQLite's own text conversion, so the
 * same driver built natively and for wasm32-wasi prints the same text. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sqlite3.h"

#define ROWS 100000

static void fail(sqlite3 *db, const char *what) {
    fprintf(stderr, "sqlite driver: %s: %s\n", what, db ? sqlite3_errmsg(db) : "(no database)");
    exit(1);
}

static void exec(sqlite3 *db, const char *sql) {
    char *error = NULL;
    if (sqlite3_exec(db, sql, NULL, NULL, &error) != SQLITE_OK) {
        fprintf(stderr, "sqlite driver: %s: %s\n", sql, error);
        exit(1);
    }
}

/* Runs a query and prints its rows, columns separated by `|`, under a `> SQL` line. */
static void query(sqlite3 *db, const char *sql) {
    sqlite3_stmt *stmt;
    if (sqlite3_prepare_v2(db, sql, -1, &stmt, NULL) != SQLITE_OK)
        fail(db, sql);
    printf("> %s\n", sql);
    int rc;
    while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
        for (int i = 0; i < sqlite3_column_count(stmt); i++) {
            const unsigned char *text = sqlite3_column_text(stmt, i);
            printf("%s%s", i ? "|" : "", text ? (const char *)text : "NULL");
        }
        printf("\n");
    }
    if (rc != SQLITE_DONE)
        fail(db, sql);
    sqlite3_finalize(stmt);
}

static sqlite3 *open_db(const char *path) {
    sqlite3 *db;
    if (sqlite3_open(path, &db) != SQLITE_OK)
        fail(db, "open");
    return db;
}

/* 100,000 rows from a linear congruential generator, in one transaction. */
static void insert_rows(sqlite3 *db) {
    sqlite3_stmt *stmt;
    const char *sql = "INSERT INTO items(id, name, grp, value, payload) VALUES (?, ?, ?, ?, ?)";
    if (sqlite3_prepare_v2(db, sql, -1, &stmt, NULL) != SQLITE_OK)
        fail(db, sql);
    exec(db, "BEGIN");
    unsigned int state = 12345;
    char name[32], payload[64];
    for (int i = 1; i <= ROWS; i++) {
        state = state * 1103515245u + 12345u;
        snprintf(name, sizeof name, "item-%06d", (int)(state >> 8) % 1000000);
        snprintf(payload, sizeof payload, "payload %d of %d", i, ROWS);
        sqlite3_bind_int(stmt, 1, i);
        sqlite3_bind_text(stmt, 2, name, -1, SQLITE_TRANSIENT);
        sqlite3_bind_int(stmt, 3, (int)(state >> 16) % 100);
        sqlite3_bind_double(stmt, 4, (double)((state >> 4) % 1000000) / 100.0);
        sqlite3_bind_text(stmt, 5, payload, -1, SQLITE_TRANSIENT);
        if (sqlite3_step(stmt) != SQLITE_DONE)
            fail(db, "insert");
        sqlite3_reset(stmt);
    }
    exec(db, "COMMIT");
    sqlite3_finalize(stmt);
    printf("inserted %d rows\n", ROWS);
}

static void queries(sqlite3 *db) {
    query(db, "SELECT count(*), sum(grp), min(value), max(value), round(avg(value), 4) FROM items");
    query(db, "SELECT grp, count(*), round(sum(value), 2) FROM items GROUP BY grp ORDER BY grp LIMIT 5");
    query(db, "SELECT id, name, value FROM items ORDER BY value DESC, id LIMIT 5");
    query(db, "SELECT count(*) FROM items WHERE grp = 42");
    query(db, "EXPLAIN QUERY PLAN SELECT count(*) FROM items WHERE grp = 42");
    query(db, "SELECT id, name FROM items WHERE name BETWEEN 'item-500000' AND 'item-500100' ORDER BY name, id");
    query(db, "SELECT count(*) FROM items WHERE payload LIKE '%of 100000' AND name GLOB 'item-9*'");
    query(db, "WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n WHERE x < 10) "
              "SELECT group_concat(x * x, ','), sum(x) FROM n");
    query(db, "SELECT json_object('grp', grp, 'n', count(*)) FROM items WHERE grp < 3 GROUP BY grp");
    query(db, "SELECT printf('%.3f', 1.0 / 3), 7 / 2, 7 % 3, -7 / 2, 1e308 * 10, abs(-9223372036854775807)");
}

static void changes(sqlite3 *db) {
    exec(db, "BEGIN");
    exec(db, "UPDATE items SET value = value * 2 WHERE id % 100 = 0");
    printf("updated %d rows\n", sqlite3_changes(db));
    exec(db, "DELETE FROM items WHERE grp = 13");
    printf("deleted %d rows\n", sqlite3_changes(db));
    exec(db, "COMMIT");
    exec(db, "BEGIN");
    exec(db, "DELETE FROM items");
    exec(db, "ROLLBACK");
    query(db, "SELECT count(*), round(sum(value), 2) FROM items");
    query(db, "PRAGMA integrity_check");
}

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: driver DATABASE\n");
        return 2;
    }
    printf("sqlite %s\n", sqlite3_libversion());
    sqlite3 *db = open_db(argv[1]);
    exec(db, "CREATE TABLE items(id INTEGER PRIMARY KEY, name TEXT NOT NULL, grp INTEGER, "
             "value REAL, payload TEXT)");
    insert_rows(db);
    exec(db, "CREATE INDEX items_grp ON items(grp)");
    exec(db, "CREATE INDEX items_name ON items(name)");
    queries(db);
    changes(db);
    if (sqlite3_close(db) != SQLITE_OK)
        fail(db, "close");
    db = open_db(argv[1]);
    query(db, "SELECT count(*) FROM items");
    query(db, "SELECT page_count * page_size > 4000000 FROM pragma_page_count, pragma_page_size");
    sqlite3_close(db);
    printf("sqlite driver: done\n");
    return 0;
}

/* What SQLite alone costs to store what an ingest stored: the floor under any ingest with this schema.
 *
 * It reads the messages, raw lines and events of a finished trackdelivery database into memory, then
 * writes them into an empty database with the same tables, row by row through SQLite's C API (one
 * prepared INSERT per table, values bound without copies, 40 commits like an ingest's batches), and
 * builds the nine event indexes a bulk ingest builds at its end. No Python, no parsing, no correlating:
 * any ingest that writes these rows and indexes pays at least this. Prints CPU seconds per step.
 *
 *   gcc -O2 bench/store_floor.c -lsqlite3 -o /tmp/store_floor        # Debian: libsqlite3-dev
 *   taskset -c 1 /tmp/store_floor BENCH_DIR/bench.sqlite3 /tmp/floor.sqlite3
 *   STORE_FLOOR_ONE_TRANSACTION=1 ...    # every row in one transaction instead of 40
 *   STORE_FLOOR_PRAGMAS="PRAGMA journal_mode=OFF; PRAGMA synchronous=OFF" ...   # instead of the store's
 *
 * (bench/run_exim.py --keep DIR keeps the benchmark's database.) See docs/speed.md for what it found.
 */
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define BATCHES 40
static const char *const TABLES[] = {"messages", "message_raw", "message_raw_added", "events"};  /* schema 6 */
#define NTABLES (sizeof TABLES / sizeof TABLES[0])
static const char *const STORE_PRAGMAS =    /* what trackdelivery's Store sets (store/sqlite.py) */
    "PRAGMA page_size=8192; PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA wal_autocheckpoint=8192;"
    " PRAGMA cache_size=-16384;";
static const char *const INDEXES =          /* schema.DEFERRABLE_INDEXES */
    "CREATE INDEX events_time ON events(actionunixtime);"
    "CREATE INDEX events_type_time ON events(type, actionunixtime);"
    "CREATE INDEX events_recipient ON events(recipient, actionunixtime);"
    "CREATE INDEX events_email ON events(email, actionunixtime);"
    "CREATE INDEX events_sender ON events(sender, actionunixtime) WHERE sender != '' AND sender != email;"
    "CREATE INDEX events_deliveredto ON events(deliveredto, actionunixtime)"
    " WHERE deliveredto != '' AND deliveredto != recipient;"
    "CREATE INDEX events_msgid ON events(msgid) WHERE msgid != '' AND message_ref IS NULL;"
    "CREATE INDEX events_sender_domain ON events(sender_domain, actionunixtime);"
    "CREATE INDEX events_recipient_domain ON events(recipient_domain, actionunixtime);";

static double cpu_seconds(void)
{
    struct timespec t;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static void check(sqlite3 *db, int rc, const char *what)
{
    if (rc != SQLITE_OK && rc != SQLITE_DONE && rc != SQLITE_ROW) {
        fprintf(stderr, "%s: %s\n", what, sqlite3_errmsg(db));
        exit(1);
    }
}

static void exec(sqlite3 *db, const char *sql)
{
    char *error = NULL;
    if (sqlite3_exec(db, sql, NULL, NULL, &error) != SQLITE_OK) {
        fprintf(stderr, "%s: %s\n", sql, error);
        exit(1);
    }
}

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: %s FINISHED.sqlite3 NEW.sqlite3 (NEW is replaced)\n", argv[0]);
        return 2;
    }
    sqlite3 *src, *dst;
    char wal[4096];
    check(NULL, sqlite3_open_v2(argv[1], &src, SQLITE_OPEN_READONLY, NULL), argv[1]);
    remove(argv[2]);
    snprintf(wal, sizeof wal, "%s-wal", argv[2]);
    remove(wal);
    check(NULL, sqlite3_open(argv[2], &dst), argv[2]);
    exec(dst, getenv("STORE_FLOOR_PRAGMAS") ? getenv("STORE_FLOOR_PRAGMAS") : STORE_PRAGMAS);
    sqlite3_stmt *q;
    /* the tables, with the indexes that stay during an ingest (events_message, messages_msgid) */
    check(src, sqlite3_prepare_v2(src, "SELECT sql FROM sqlite_master WHERE name IN ('messages', 'message_raw', "
                                       "'message_raw_added', 'message_raw_added_message', 'events', 'events_message', "
                                       "'messages_msgid') ORDER BY type DESC", -1, &q, NULL),
          "schema");
    while (sqlite3_step(q) == SQLITE_ROW)
        exec(dst, (const char *)sqlite3_column_text(q, 0));
    sqlite3_finalize(q);
    double inserts = 0;
    for (size_t t = 0; t < NTABLES; t++) {
        char sql[256], insert[1024];
        snprintf(sql, sizeof sql, "SELECT * FROM %s ORDER BY id", TABLES[t]);
        check(src, sqlite3_prepare_v2(src, sql, -1, &q, NULL), sql);
        int columns = sqlite3_column_count(q);
        size_t rows = 0, capacity = 1 << 16;
        sqlite3_value **values = malloc(sizeof *values * capacity * (size_t)columns);
        while (sqlite3_step(q) == SQLITE_ROW) {    /* in memory first: only the writing is timed */
            if (rows == capacity)
                values = realloc(values, sizeof *values * (capacity *= 2) * (size_t)columns);
            for (int c = 0; c < columns; c++)
                values[rows * (size_t)columns + (size_t)c] = sqlite3_value_dup(sqlite3_column_value(q, c));
            rows++;
        }
        sqlite3_finalize(q);
        int n = snprintf(insert, sizeof insert, "INSERT INTO %s VALUES (", TABLES[t]);
        for (int c = 0; c < columns; c++)
            n += snprintf(insert + n, sizeof insert - (size_t)n, c ? ", ?" : "?");
        snprintf(insert + n, sizeof insert - (size_t)n, ")");
        sqlite3_stmt *st;
        check(dst, sqlite3_prepare_v2(dst, insert, -1, &st, NULL), insert);
        size_t per_batch = getenv("STORE_FLOOR_ONE_TRANSACTION") ? rows + 1 : rows / BATCHES + 1;
        double start = cpu_seconds();
        exec(dst, "BEGIN");
        for (size_t r = 0; r < rows; r++) {
            for (int c = 0; c < columns; c++) {
                sqlite3_value *v = values[r * (size_t)columns + (size_t)c];
                switch (sqlite3_value_type(v)) {
                case SQLITE_INTEGER: sqlite3_bind_int64(st, c + 1, sqlite3_value_int64(v)); break;
                case SQLITE_FLOAT: sqlite3_bind_double(st, c + 1, sqlite3_value_double(v)); break;
                case SQLITE_NULL: sqlite3_bind_null(st, c + 1); break;
                default:
                    sqlite3_bind_text(st, c + 1, (const char *)sqlite3_value_text(v), sqlite3_value_bytes(v),
                                      SQLITE_STATIC);
                }
            }
            check(dst, sqlite3_step(st), insert);
            sqlite3_reset(st);
            if ((r + 1) % per_batch == 0)
                exec(dst, "COMMIT; BEGIN");
        }
        exec(dst, "COMMIT");
        double took = cpu_seconds() - start;
        inserts += took;
        printf("%-12s %9zu rows  %6.2f s\n", TABLES[t], rows, took);
        sqlite3_finalize(st);
        for (size_t i = 0; i < rows * (size_t)columns; i++)
            sqlite3_value_free(values[i]);
        free(values);
    }
    double start = cpu_seconds();
    exec(dst, "BEGIN");
    exec(dst, INDEXES);
    exec(dst, "COMMIT");
    double indexes = cpu_seconds() - start;
    start = cpu_seconds();
    sqlite3_close(dst);
    double closing = cpu_seconds() - start;
    printf("inserts %.2f s + nine indexes %.2f s + close %.2f s = %.2f CPU seconds\n", inserts, indexes, closing,
           inserts + indexes + closing);
    sqlite3_close(src);
    return 0;
}

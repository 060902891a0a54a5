//! `treebeard::apm::obfuscate_sql` against DataDog's own SQL obfuscator
//! (`libdd-trace-obfuscation`, the version dd-trace-rs locks), and a
//! property test that no literal survives obfuscation.

use std::borrow::Cow;

use libdd_trace_obfuscation::obfuscation_config::{DbmsKind, SqlConfig};
use libdd_trace_obfuscation::sql::obfuscate_sql_resource;
use proptest::prelude::*;
use treebeard::apm::obfuscate_sql;

/// What DataDog makes of `query` as a span resource: the agent's default
/// configuration, no particular database.
fn datadog(query: &str) -> String {
    obfuscate_sql_resource(query, &SqlConfig::default(), DbmsKind::Generic)
}

/// Queries both obfuscators must turn into the same resource.
const CORPUS: &[&str] = &[
    // Plain literals.
    "SELECT * FROM users WHERE id = 42",
    "SELECT * FROM users WHERE name = 'alice'",
    "SELECT * FROM users WHERE name = 'O''Brien'",
    "SELECT * FROM users WHERE name = ''",
    "SELECT * FROM users WHERE name = '' AND x = ''''",
    "UPDATE t SET a = 'O''Brien' WHERE id = 3",
    "DELETE FROM sessions WHERE expires < 1700000000",
    "SELECT * FROM t WHERE a = 'héllo wörld' AND b = '日本語'",
    "SELECT 'emoji 😀', x FROM t",
    // MySQL double-quoted strings.
    "SELECT * FROM users WHERE email = \"a@b.c\"",
    "SELECT * FROM users WHERE email=\"a@b.c\" AND name = \"bob\"",
    "UPDATE users SET name = \"eve\" WHERE id = 1",
    // Backslash escapes.
    "SELECT * FROM t WHERE a = 'it\\'s' AND b = 'secret'",
    "SELECT * FROM t WHERE a = 'C:\\\\path' AND b = 2",
    "SELECT * FROM t WHERE a = 'x\\'y\\'z'",
    "INSERT INTO t (a) VALUES ('don\\'t')",
    // Dollar quotes.
    "SELECT $$secret$$",
    "SELECT $$secret body$$ FROM t",
    "SELECT $tag$secret body$tag$ FROM t",
    "SELECT $a$ it's $$ nested $$ $a$ FROM t",
    "SELECT * FROM t WHERE body = $q$multi\nline$q$",
    // IN lists.
    "SELECT * FROM t WHERE a IN (1, 2, 3)",
    "SELECT * FROM t WHERE a IN (1,2,3)",
    "SELECT * FROM t WHERE a IN ('a', 'b', 'c')",
    "SELECT * FROM t WHERE a IN (1, 'b', 3.5, NULL)",
    "SELECT * FROM t WHERE a IN (?, ?, ?)",
    "SELECT * FROM t WHERE a IN ($1, $2, $3)",
    "SELECT * FROM t WHERE a IN (1) AND b IN (2, 3)",
    "SELECT * FROM t WHERE a NOT IN ( 1 , 2 )",
    "SELECT * FROM t WHERE (a, b) IN ((1, 2), (3, 4))",
    // Nested parentheses and functions.
    "SELECT count(*) FROM t",
    "SELECT max(price) FROM t WHERE (a = 1 AND (b = 2 OR c = 3))",
    "SELECT coalesce(a, 0) FROM t",
    "SELECT * FROM t WHERE id = (SELECT max(id) FROM t WHERE x = 5)",
    "SELECT a FROM t WHERE lower(name) = lower('Bob')",
    // Comments.
    "SELECT a -- secret 123\nFROM t",
    "SELECT a /* card 4111 */ FROM t",
    "/* leading */ SELECT 1",
    "SELECT a FROM t -- trailing comment",
    "SELECT a FROM t # mysql comment 42",
    "SELECT /* multi\nline */ a FROM t WHERE b = 1",
    // Hex and binary literals.
    "SELECT x'DEADBEEF' FROM t",
    "SELECT X'00ff', 0xFF FROM t",
    "SELECT * FROM t WHERE h = 0xDEADBEEF",
    // Numbers.
    "SELECT * FROM t WHERE a = -1",
    "SELECT * FROM t WHERE a = -1.5 AND b = +2",
    "SELECT * FROM t WHERE a = 3.14 AND b = .5 AND c = 1.",
    "SELECT * FROM t WHERE a = 1e10 AND b = 1.5E-3 AND c = 2e+4",
    "SELECT * FROM t WHERE a > 0 AND b <= 100 AND c <> 5 AND d != 6",
    "SELECT a * 2, b / 3, c + 4, d % 5 FROM t",
    "SELECT * FROM t LIMIT 10",
    "SELECT * FROM t LIMIT 10 OFFSET 20",
    "SELECT * FROM t LIMIT 10, 20",
    // Identifiers with digits, qualified names.
    "SELECT col1, t2.c3 FROM table1 t2",
    "SELECT a1, b_2, c3d FROM sales_2019 WHERE x = 1",
    "SELECT u.id, u.name FROM users u JOIN orders o ON o.user_id = u.id",
    "SELECT * FROM db1.schema2.table3",
    "SELECT t.* FROM t",
    // Quoted identifiers.
    "SELECT \"col\" FROM \"table1\" WHERE x = 1",
    "SELECT \"user\".\"id\" FROM \"user\"",
    "SELECT `col` FROM `table1` WHERE x = 1",
    "SELECT `t`.`c` FROM `t`",
    "SELECT \"weird \"\"name\" FROM t",
    // Placeholders.
    "SELECT * FROM users WHERE id = ?",
    "SELECT * FROM users WHERE id = ? AND name = ?",
    "SELECT * FROM users WHERE id = ?1 AND k = ?2",
    "SELECT * FROM users WHERE id = $1 AND name = $2",
    "SELECT * FROM users WHERE id = :id AND name = :name",
    "SELECT * FROM users WHERE id = %s AND name = %(name)s",
    "SELECT * FROM users WHERE id = @id",
    "INSERT INTO t (a, b) VALUES (?, ?)",
    "INSERT INTO t (a, b) VALUES ($1, $2)",
    // Booleans and NULL.
    "SELECT true, false, null FROM t",
    "SELECT * FROM t WHERE a IS NULL AND b = TRUE",
    "SELECT * FROM t WHERE a IS NOT NULL",
    // Aliases.
    "SELECT a AS x, b AS y FROM t",
    "SELECT count(*) AS n FROM t AS t1",
    "SELECT a FROM t AS alias WHERE b = 1",
    // Inserts and updates.
    "INSERT INTO t (a, b) VALUES (1, 'x')",
    "INSERT INTO t (a, b) VALUES (1, 'x'), (2, 'y'), (3, 'z')",
    "INSERT INTO t VALUES (1, 2), (3, 4)",
    "UPDATE t SET a = 1, b = 'two', c = 3.0 WHERE id = 4",
    "UPDATE t SET a = a + 1 WHERE id IN (1, 2)",
    "REPLACE INTO t (a) VALUES (1)",
    // Multi-statement.
    "SELECT 1; SELECT 2",
    "BEGIN; UPDATE t SET a = 1; COMMIT;",
    "SET search_path = 'public'; SELECT a FROM t",
    // Operators and casts.
    "SELECT a FROM t WHERE b LIKE 'abc%'",
    "SELECT a FROM t WHERE b BETWEEN 1 AND 10",
    "SELECT a || 'x' FROM t",
    "SELECT a::text FROM t WHERE b = '5'::int",
    "SELECT data->>'name' FROM t",
    "SELECT a FROM t WHERE b ~* 'x'",
    "SELECT a FROM t WHERE NOT (b = 1)",
    // Whitespace.
    "SELECT   a,b\n\tFROM  t\r\nWHERE c = 1  ",
    "  SELECT a FROM t",
    "SELECT a\u{2003}FROM t",
    // Already in shape.
    "SELECT a FROM t",
    "SELECT id, name FROM users WHERE id = ?",
    "SELECT * FROM t WHERE a IN ( ? )",
    // DDL and others.
    "CREATE TABLE t (id INT PRIMARY KEY, name VARCHAR(255) DEFAULT 'x')",
    "ALTER TABLE t ADD COLUMN c INT DEFAULT 0",
    "DROP TABLE IF EXISTS t",
    "SELECT a FROM t ORDER BY b DESC, c ASC",
    "SELECT a, count(*) FROM t GROUP BY a HAVING count(*) > 5",
    "SELECT a FROM t UNION ALL SELECT b FROM u WHERE c = 'x'",
    "WITH cte AS (SELECT a FROM t WHERE b = 1) SELECT * FROM cte",
    "SELECT CASE WHEN a = 1 THEN 'one' ELSE 'other' END FROM t",
    "EXPLAIN SELECT a FROM t WHERE b = 1",
    "SELECT é1, x1 FROM t",
];

/// Queries where DataDog's obfuscator keeps a quirk of the Go tokenizer it
/// ports, or a dialect treebeard does not model; ours still leaves no
/// literal. `(query, ours)`.
const DELIBERATE_DIFFERENCES: &[(&str, &str)] = &[
    // MySQL double-quoted strings: DataDog takes one for a value only right
    // after `=`, and keeps the others as identifiers without their quotes,
    // so these literals would reach the resource. Ours takes it for a value
    // after any comparison, after another literal, and first in `IN (`,
    // `VALUES (` or after `LIKE`.
    (
        "SELECT * FROM t WHERE a IN (\"secret\", \"other\")",
        "SELECT * FROM t WHERE a IN ( ? )",
    ),
    (
        "SELECT * FROM t WHERE a IN (1, \"secret\")",
        "SELECT * FROM t WHERE a IN ( ? )",
    ),
    (
        "SELECT * FROM t WHERE a <> \"secret\"",
        "SELECT * FROM t WHERE a <> ?",
    ),
    (
        "SELECT * FROM t WHERE a LIKE \"secret%\"",
        "SELECT * FROM t WHERE a LIKE ?",
    ),
    (
        "INSERT INTO t (a) VALUES (\"secret\")",
        "INSERT INTO t ( a ) VALUES ( ? )",
    ),
    // SQL Server `[bracketed]` identifiers are not modelled: kept as
    // written apart from the space after `[` (DataDog: `[ a ]`).
    ("SELECT [a] FROM t", "SELECT [ a] FROM t"),
    // `-.x`: DataDog copies a Go tokenizer slip that glues `-.` together
    // (`-. x`); ours writes the operator and the dot apart.
    ("SELECT b = -.x FROM t", "SELECT b = - . x FROM t"),
    // ODBC `{fn …}` / Cassandra `{…}`: DataDog replaces the whole braced
    // block by `?`; ours obfuscates inside it like anywhere else.
    ("SELECT {fn now()} FROM t", "SELECT { fn now ( )} FROM t"),
    (
        "SELECT * FROM t WHERE m = {'k': 'v'}",
        "SELECT * FROM t WHERE m = { ? : ?}",
    ),
];

#[test]
fn matches_datadog_on_the_corpus() {
    let mut mismatches = Vec::new();
    for &query in CORPUS {
        let ours = obfuscate_sql(query);
        let theirs = datadog(query);
        if ours != theirs.as_str() {
            mismatches.push(format!(
                "{query:?}\n  ours:    {ours:?}\n  datadog: {theirs:?}"
            ));
        }
    }
    assert!(
        mismatches.is_empty(),
        "{} of {} differ:\n{}",
        mismatches.len(),
        CORPUS.len(),
        mismatches.join("\n")
    );
    assert!(CORPUS.len() >= 100);
}

#[test]
fn deliberate_differences_are_still_differences() {
    for &(query, ours) in DELIBERATE_DIFFERENCES {
        assert_eq!(obfuscate_sql(query), ours, "{query}");
        assert_ne!(datadog(query), ours, "{query}: no longer a difference");
    }
}

#[test]
fn a_query_in_shape_is_borrowed() {
    for query in [
        "SELECT a FROM t",
        "SELECT id, name FROM users WHERE id = ?",
        "SELECT * FROM users WHERE id = ? AND name = :name",
        "SELECT * FROM t WHERE a IN ( ? )",
        "INSERT INTO t ( a, b ) VALUES ( ? )",
    ] {
        assert_eq!(datadog(query), query, "not in DataDog's shape: {query}");
        let out = obfuscate_sql(query);
        assert!(
            matches!(out, Cow::Borrowed(q) if std::ptr::eq(q, query)),
            "{query}: {out:?}"
        );
    }
}

/// Literal text: letters, digits, punctuation and non-ASCII, never empty;
/// long enough (and marked) not to occur in the query's own words.
fn secret() -> impl Strategy<Value = String> {
    "[a-zA-Z0-9 @._:/é日-]{1,12}".prop_map(|s| format!("Zq{s}"))
}

/// `secret` written as each kind of literal.
fn literal(secret: &str, kind: usize) -> String {
    let digits: String = secret.bytes().map(|b| char::from(b'0' + b % 10)).collect();
    match kind {
        0 => format!("'{}'", secret.replace('\'', "''")),
        1 => format!("'{}\\'{}'", secret, secret),
        2 => format!("\"{secret}\""),
        3 => format!("$${secret}$$"),
        4 => format!("$tag$ {secret} $tag$"),
        5 => format!("x'{}'", hex(secret)),
        6 => format!("0x{}", hex(secret)),
        7 => format!("-{digits}"),
        8 => format!("{digits}.{digits}e-{digits}"),
        _ => format!("'{secret}''{secret}'"),
    }
}

fn hex(s: &str) -> String {
    s.bytes().map(|b| format!("{b:02X}")).collect()
}

proptest! {
    #[test]
    fn no_literal_survives(
        literals in proptest::collection::vec((secret(), 0usize..10), 1..5),
        in_list in proptest::bool::ANY,
    ) {
        let values: Vec<String> = literals.iter().map(|(s, k)| literal(s, *k)).collect();
        let query = if in_list {
            format!("SELECT a FROM t WHERE b IN ({}) -- {}", values.join(", "), literals[0].0)
        } else {
            let conditions: Vec<String> =
                values.iter().enumerate().map(|(i, v)| format!("c{i} = {v}")).collect();
            format!("SELECT a FROM t WHERE {} /* {} */", conditions.join(" AND "), literals[0].0)
        };
        let out = obfuscate_sql(&query);
        for (secret, kind) in &literals {
            prop_assert!(!out.contains(secret.as_str()), "{query:?} -> {out:?}");
            if *kind >= 5 && *kind <= 8 {
                let written = literal(secret, *kind);
                let body = written.trim_start_matches(['-', 'x', '\'']).trim_start_matches("0x");
                prop_assert!(!out.contains(body.trim_end_matches('\'')), "{query:?} -> {out:?}");
            }
        }
    }
}

//! Checks of listing (`all`), key encoding and namespace isolation.

use std::sync::Arc;

use super::*;

/// `all` matches keys of the pattern's length whose segments are equal or wildcards.
pub async fn all_patterns(store: &Arc<dyn Store>) {
    let ns = namespace("all_patterns");
    let records: Vec<Record> = [
        (&["user", "1", "session", "a"][..], "1a"),
        (&["user", "1", "session", "b"], "1b"),
        (&["user", "2", "session", "c"], "2c"),
        (&["user", "10", "session", "e"], "10e"),
        (&["user", "1"], "u1"),
        (&["user", "2"], "u2"),
        (&["other", "1", "session", "d"], "o1d"),
        (&["single"], "s"),
        (&["user", "1", "session", "a", "extra"], "long"),
    ]
    .iter()
    .map(|(k, v)| (key(k), v.as_bytes().to_vec()))
    .collect();
    store.put(&ns, records, Some(LONG_TTL)).await.unwrap();

    let values = |records: Vec<Record>| -> Vec<String> {
        let mut v: Vec<String> = records
            .into_iter()
            .map(|(_, v)| String::from_utf8(v).unwrap())
            .collect();
        v.sort();
        v
    };
    let cases: Vec<(Vec<Option<&str>>, Vec<&str>)> = vec![
        (
            vec![Some("user"), Some("1"), Some("session"), None],
            vec!["1a", "1b"],
        ),
        (
            vec![Some("user"), None, Some("session"), None],
            vec!["10e", "1a", "1b", "2c"],
        ),
        (vec![Some("user"), None], vec!["u1", "u2"]),
        (
            vec![None, Some("1"), Some("session"), None],
            vec!["1a", "1b", "o1d"],
        ),
        (
            vec![None, None, None, None],
            vec!["10e", "1a", "1b", "2c", "o1d"],
        ),
        (vec![None], vec!["s"]),
        (vec![Some("single")], vec!["s"]),
        (vec![Some("user"), Some("1"), Some("session")], vec![]),
        (vec![Some("user"), Some("3"), Some("session"), None], vec![]),
        (
            vec![Some("user"), Some("1"), Some("session"), Some("a"), None],
            vec!["long"],
        ),
        (vec![None, None, None, None, None, None], vec![]),
        (vec![Some("use"), None], vec![]),
    ];
    for (pat, expected) in cases {
        let got = values(store.all(&ns, &pattern(&pat)).await.unwrap());
        assert_eq!(got, expected, "`all` with pattern {pat:?}");
    }

    // Returned keys are the full keys, without the namespace.
    let got = sorted(
        store
            .all(&ns, &pattern(&[Some("user"), Some("2"), None, None]))
            .await
            .unwrap(),
    );
    assert_eq!(
        got,
        vec![(key(&["user", "2", "session", "c"]), b"2c".to_vec())]
    );
}

/// `all` leaves out records whose TTL has passed.
pub async fn all_skips_expired(store: &Arc<dyn Store>) {
    let ns = namespace("all_skips_expired");
    store
        .put(
            &ns,
            vec![(key(&["k", "short"]), b"s".to_vec())],
            Some(SHORT_TTL),
        )
        .await
        .unwrap();
    store
        .put(
            &ns,
            vec![(key(&["k", "long"]), b"l".to_vec())],
            Some(LONG_TTL),
        )
        .await
        .unwrap();
    wait_until_gone(store, &ns, &key(&["k", "short"]), "all_skips_expired").await;
    let got = store.all(&ns, &pattern(&[Some("k"), None])).await.unwrap();
    assert_eq!(got, vec![(key(&["k", "long"]), b"l".to_vec())]);
}

/// Segments may hold separators and wildcard characters of any backend syntax; they are
/// compared as whole strings, never parsed.
pub async fn keys_with_special_characters(store: &Arc<dyn Store>) {
    let ns = namespace("special_keys");
    let odd = [
        "a:b",
        "a",
        "b",
        "*",
        "?",
        "[x]",
        "a/b",
        "..",
        "%2F",
        "ünï cødé",
        "with space",
        "\\",
        "a\nb",
        "_",
    ];
    let records: Vec<Record> = odd
        .iter()
        .map(|s| (key(&["seg", s]), s.as_bytes().to_vec()))
        .collect();
    store.put(&ns, records, Some(LONG_TTL)).await.unwrap();
    // Keys that a naive "join with ':'" would confuse with ["seg", "a:b"].
    store
        .put(
            &ns,
            vec![(key(&["seg", "a", "b"]), b"three".to_vec())],
            Some(LONG_TTL),
        )
        .await
        .unwrap();
    for s in odd {
        assert_eq!(
            store.get(&ns, &key(&["seg", s])).await.unwrap(),
            Some(s.as_bytes().to_vec()),
            "segment {s:?}"
        );
        let got = store
            .all(&ns, &pattern(&[Some("seg"), Some(s)]))
            .await
            .unwrap();
        assert_eq!(
            got,
            vec![(key(&["seg", s]), s.as_bytes().to_vec())],
            "`all` with exact segment {s:?}"
        );
    }
    let got = store
        .all(&ns, &pattern(&[Some("seg"), None]))
        .await
        .unwrap();
    assert_eq!(got.len(), odd.len(), "wildcard over odd segments");
    assert_eq!(
        store
            .all(&ns, &pattern(&[Some("seg"), Some("a"), None]))
            .await
            .unwrap(),
        vec![(key(&["seg", "a", "b"]), b"three".to_vec())]
    );
}

/// Namespaces never see each other's keys, even when joining namespace and key would
/// give the same string.
pub async fn namespaces_isolated(store: &Arc<dyn Store>) {
    let base = namespace("namespaces");
    let ns1 = format!("{base}_one");
    let ns2 = format!("{base}_two");
    let k = key(&["shared", "key"]);
    store
        .put(&ns1, vec![(k.clone(), b"one".to_vec())], Some(LONG_TTL))
        .await
        .unwrap();
    store
        .put(&ns2, vec![(k.clone(), b"two".to_vec())], Some(LONG_TTL))
        .await
        .unwrap();
    assert_eq!(store.get(&ns1, &k).await.unwrap(), Some(b"one".to_vec()));
    assert_eq!(store.get(&ns2, &k).await.unwrap(), Some(b"two".to_vec()));
    let all1 = store
        .all(&ns1, &pattern(&[Some("shared"), None]))
        .await
        .unwrap();
    assert_eq!(all1, vec![(k.clone(), b"one".to_vec())]);

    store.delete(&ns1, &k).await.unwrap();
    assert_eq!(store.get(&ns1, &k).await.unwrap(), None);
    assert_eq!(store.get(&ns2, &k).await.unwrap(), Some(b"two".to_vec()));
    assert_eq!(store.take(&ns1, &k).await.unwrap(), None);
    assert_eq!(store.get(&ns2, &k).await.unwrap(), Some(b"two".to_vec()));

    // "<base>_x" + ["y"] against "<base>" + ["x", "y"] and "<base>" + ["x_y"].
    let outer = format!("{base}_x");
    store
        .put(
            &outer,
            vec![(key(&["y"]), b"outer".to_vec())],
            Some(LONG_TTL),
        )
        .await
        .unwrap();
    assert_eq!(store.get(&base, &key(&["x", "y"])).await.unwrap(), None);
    assert_eq!(store.get(&base, &key(&["x_y"])).await.unwrap(), None);
    assert_eq!(store.get(&base, &key(&["_x", "y"])).await.unwrap(), None);
    assert!(store
        .all(&base, &pattern(&[None, None]))
        .await
        .unwrap()
        .is_empty());
    assert!(store
        .all(&base, &pattern(&[None]))
        .await
        .unwrap()
        .is_empty());
}

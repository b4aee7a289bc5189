use super::*;

fn glob(pattern: &str, name: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let n: Vec<char> = name.chars().collect();
    glob_match(&p, &n)
}

#[test]
fn globs() {
    assert!(glob("*", ""));
    assert!(glob("*", "public.t"));
    assert!(glob("public.*", "public.t"));
    assert!(!glob("public.*", "publicx.t"));
    assert!(glob("p?blic.t", "public.t"));
    assert!(glob("*.*_log", "a.b_log"));
    assert!(!glob("*.*_log", "a.b_log2"));
    assert!(glob("*a*a*a*", "xaxaxa"));
    assert!(!glob("*a*a*a*b", &"a".repeat(200)));
    assert!(glob("ü?.t", "üx.t"));
    assert!(!glob("", "a"));
}

/// Formerly the example of `DiscoveryFilter` (the type is internal now).
#[test]
fn filter_globs_include_and_exclude() {
    let filter = DiscoveryFilter {
        schemas: vec![],
        include: vec!["public.*".into(), "sales.order?".into()],
        exclude: vec!["*_backup".into()],
    };
    assert!(filter.matches("public", "users"));
    assert!(filter.matches("sales", "orders"));
    assert!(!filter.matches("sales", "order_lines"));
    assert!(!filter.matches("public", "users_backup"));
}

use super::*;

fn rules() -> OutputRules {
    let portal = url::Url::parse("https://portal.example.com").expect("url");
    OutputRules::new([&portal], 300)
}

#[test]
fn mentions_tags_and_foreign_links_are_defused() {
    let out = rules().apply(
        "Hi @everyone and <@123> <@&45> <#67>! <script>alert(1)</script><b>bold</b> \
         see https://evil.example/x, [here](https://evil.example) or \
         [help](https://portal.example.com/help/top-up) and https://portal.example.com.evil.io/ \
         and www.evil.io and javascript:alert(1)",
    );
    assert!(!out.contains("@everyone"), "{out}");
    assert!(!out.contains("<@"), "{out}");
    assert!(!out.contains("<#"), "{out}");
    assert!(!out.contains("<script"), "{out}");
    assert!(!out.contains("<b>"), "{out}");
    assert!(!out.contains("evil"), "{out}");
    assert!(!out.contains("javascript:"), "{out}");
    assert!(
        out.contains("[help](https://portal.example.com/help/top-up)"),
        "{out}"
    );
}

#[test]
fn long_answers_end_at_a_boundary_with_an_ellipsis() {
    let text = "One sentence here. ".repeat(40);
    let out = truncate(&text, 100);
    assert!(out.chars().count() <= 100);
    assert!(out.ends_with(".…"), "{out}");
    let words = "word ".repeat(100);
    let out = truncate(&words, 51);
    assert!(out.ends_with("word…"), "{out}");
    assert_eq!(truncate("short", 10), "short");
}

#[test]
fn echoes_of_the_system_instruction_are_found() {
    let system = "You are the support assistant of Nimbus. Answer only from the sources given.";
    assert!(echoes(
        "Sure! you are the support assistant of nimbus, answer only",
        system,
        "zz-canary",
        8
    ));
    assert!(echoes("ZZ canary", system, "zz-canary", 8));
    assert!(!echoes("Top up in Billing.", system, "zz-canary", 8));
}

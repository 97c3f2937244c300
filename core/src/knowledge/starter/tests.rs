use std::collections::BTreeSet;

use super::*;

fn directory() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../config/knowledge")
}

#[test]
fn every_file_of_the_folder_is_built_in() {
    let on_disk: BTreeSet<String> = files::read_dir(&directory())
        .expect("readable")
        .into_iter()
        .map(|file| file.name)
        .collect();
    let built_in: BTreeSet<String> = FILES.iter().map(|(name, _)| (*name).to_owned()).collect();
    assert_eq!(
        on_disk, built_in,
        "list config/knowledge/*.md in starter.rs"
    );
}

#[test]
fn starter_files_read_and_render_back_byte_for_byte() {
    let articles = articles().expect("every starter file reads");
    assert!(articles.len() >= 25, "{}", articles.len());
    for ((name, text), content) in FILES.iter().zip(&articles) {
        assert_eq!(
            files::render(content).text,
            *text,
            "{name} is not in canonical form"
        );
    }
}

#[test]
fn links_between_articles_name_articles_that_exist() {
    let articles = articles().expect("reads");
    let slugs: BTreeSet<&str> = articles.iter().map(|a| a.slug.as_str()).collect();
    for article in &articles {
        for (at, _) in article.body.match_indices("](/help/") {
            let rest = &article.body[at + "](/help/".len()..];
            let target = &rest[..rest.find(')').expect("closed link")];
            assert!(slugs.contains(target), "{} links to {target}", article.slug);
        }
    }
}

//! Files and folders only the service's own user may read: the SQLite database and the mail
//! spool hold password hashes, sessions, reset codes and customers' mail.
//!
//! Folders are made 0700 and files 0600 whatever the process umask is: the mode is set on
//! creation and set again after, because a umask can take bits away but never give them back.
//! Folders that already exist are left as the operator made them.

use std::io;
use std::path::Path;

#[cfg(unix)]
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};

/// The mode of a private folder.
pub const DIR_MODE: u32 = 0o700;
/// The mode of a private file.
pub const FILE_MODE: u32 = 0o600;

/// Creates `path` and any missing parents, each new one 0700.
pub fn create_dir_all(path: &Path) -> io::Result<()> {
    if path.as_os_str().is_empty() || path.is_dir() {
        return Ok(());
    }
    if let Some(parent) = path.parent() {
        create_dir_all(parent)?;
    }
    let mut builder = std::fs::DirBuilder::new();
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, DIR_MODE);
    match builder.create(path) {
        Ok(()) => set_mode(path, DIR_MODE),
        // Made by someone else in the meantime: theirs, left as it is.
        Err(error) if error.kind() == io::ErrorKind::AlreadyExists && path.is_dir() => Ok(()),
        Err(error) => Err(error),
    }
}

/// Creates the file `path` 0600 if it does not exist yet; an existing file is left alone.
/// Whether it was created.
pub fn create_file_if_absent(path: &Path) -> io::Result<bool> {
    match open_new(path) {
        Ok(_) => Ok(true),
        Err(error) if error.kind() == io::ErrorKind::AlreadyExists => Ok(false),
        Err(error) => Err(error),
    }
}

/// Writes `bytes` to a new file `path`, 0600; fails if the file exists.
pub async fn write_new(path: &Path, bytes: Vec<u8>) -> io::Result<()> {
    let path = path.to_owned();
    tokio::task::spawn_blocking(move || {
        use std::io::Write;
        let mut file = open_new(&path)?;
        file.write_all(&bytes)?;
        file.sync_all()
    })
    .await
    .map_err(io::Error::other)?
}

fn open_new(path: &Path) -> io::Result<std::fs::File> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    options.mode(FILE_MODE);
    let file = options.open(path)?;
    // On the open handle, not by path: the path could be swapped for a link to another file
    // between the open and here, and that file's mode would change instead.
    #[cfg(unix)]
    file.set_permissions(std::fs::Permissions::from_mode(FILE_MODE))?;
    Ok(file)
}

#[cfg(unix)]
fn set_mode(path: &Path, mode: u32) -> io::Result<()> {
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
}

#[cfg(not(unix))]
fn set_mode(_: &Path, _: u32) -> io::Result<()> {
    Ok(())
}

/// Whether anyone but the owner may read or write `path` (never on systems without modes).
pub fn readable_by_others(path: &Path) -> bool {
    #[cfg(unix)]
    {
        std::fs::metadata(path).is_ok_and(|meta| meta.permissions().mode() & 0o077 != 0)
    }
    #[cfg(not(unix))]
    {
        let _ = path;
        false
    }
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;

    fn mode(path: &Path) -> u32 {
        std::fs::metadata(path)
            .expect("metadata")
            .permissions()
            .mode()
            & 0o777
    }

    #[tokio::test]
    async fn new_folders_and_files_are_the_owners_alone() {
        let root = tempfile::tempdir().expect("a folder");
        let nested = root.path().join("data/mail/spool");
        create_dir_all(&nested).expect("created");
        for folder in ["data", "data/mail", "data/mail/spool"] {
            assert_eq!(mode(&root.path().join(folder)), 0o700, "{folder}");
        }
        let db = root.path().join("data/hostdeck.db");
        assert!(create_file_if_absent(&db).expect("created"));
        assert!(!create_file_if_absent(&db).expect("kept"));
        assert_eq!(mode(&db), 0o600);
        let eml = nested.join("one.eml");
        write_new(&eml, b"Subject: hi\r\n\r\nhello".to_vec())
            .await
            .expect("written");
        assert_eq!(mode(&eml), 0o600);
        assert!(
            write_new(&eml, Vec::new()).await.is_err(),
            "never overwritten"
        );
        assert!(!readable_by_others(&eml));
    }

    #[test]
    fn an_existing_folder_is_left_as_the_operator_made_it() {
        let root = tempfile::tempdir().expect("a folder");
        let shared = root.path().join("shared");
        std::fs::create_dir(&shared).expect("made");
        std::fs::set_permissions(&shared, std::fs::Permissions::from_mode(0o750)).expect("chmod");
        create_dir_all(&shared.join("inner")).expect("created");
        assert_eq!(mode(&shared), 0o750);
        assert_eq!(mode(&shared.join("inner")), 0o700);
    }
}

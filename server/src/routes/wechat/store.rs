//! The media store: files uploaded with `media/upload`, videos described with
//! `media/uploadvideo`, and articles saved with `material/add_news` or `media/uploadnews`,
//! each under a `media_id` that sends then reference.
//!
//! herald's engine stores references to media, never their bytes; this store keeps the
//! bytes. Durable server: `DATA_DIR/media/<media_id>.bin` (the file) and
//! `<media_id>.json` (what it is), each written atomically (temporary file, fsync, rename,
//! fsync of the directory), the bytes first, so a crash leaves either a whole entry or no
//! visible entry (at worst an orphaned `.bin`). The index is read back at start. In memory
//! (no data dir): everything in this process's memory.
//!
//! **Invariant:** an entry belongs to one account; every lookup names the account and an
//! entry of another account is indistinguishable from a missing one (errcode 40007).
//! Entries are never changed after they are written; nothing expires them (WeChat drops
//! temporary media after 3 days; herald keeps them, so a send accepted later can still
//! reference them).

use crate::tokens::write_atomically;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

/// What a media id names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    /// An image file (`type=image`).
    Image,
    /// A thumbnail image (`type=thumb`), for article covers.
    Thumb,
    /// A voice file.
    Voice,
    /// A video file (`type=video`).
    Video,
    /// A video file with its title and description (`media/uploadvideo`): `mpvideo`.
    MpVideo,
    /// An article (`material/add_news`, `media/uploadnews`): `mpnews`.
    News,
}

impl Kind {
    /// The `type` word WeChat uses.
    pub fn name(self) -> &'static str {
        match self {
            Kind::Image => "image",
            Kind::Thumb => "thumb",
            Kind::Voice => "voice",
            Kind::Video => "video",
            Kind::MpVideo => "mpvideo",
            Kind::News => "news",
        }
    }
}

/// One article of a news entry, as `add_news` takes it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewsArticle {
    /// Title.
    pub title: String,
    /// The cover: a thumb or image media id of the same account.
    pub thumb_media_id: String,
    /// Author (kept, not sent: herald's article has no author).
    pub author: String,
    /// Summary.
    pub digest: String,
    /// Body (HTML as WeChat takes it; herald stores it as text).
    pub content: String,
    /// "Read more" link (kept, not sent).
    pub content_source_url: String,
    /// Whether the cover shows in the body (kept, not sent).
    pub show_cover_pic: bool,
}

/// What a media id names.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    /// The owning account.
    pub account: u32,
    /// What it is.
    pub kind: Kind,
    /// File format name (`jpeg`, `png`, `gif`, `bmp`, `mp3`, `amr`, `wma`, `wav`, `mp4`);
    /// empty for news.
    #[serde(default)]
    pub format: String,
    /// File size in bytes (of the file behind it for `mpvideo`; 0 for news).
    #[serde(default)]
    pub bytes: u64,
    /// Play time in seconds (voice, video; 0 when unknown or an image).
    #[serde(default)]
    pub duration_secs: u32,
    /// Unix seconds of the upload.
    pub created_at: u64,
    /// For `mpvideo`: the video file's media id, title and description.
    #[serde(default)]
    pub video: Option<(String, String, String)>,
    /// For news: its articles (herald takes one).
    #[serde(default)]
    pub articles: Vec<NewsArticle>,
}

/// Media entries and their bytes.
#[derive(Debug)]
pub struct MediaStore {
    /// `DATA_DIR/media`, or `None` in memory.
    dir: Option<PathBuf>,
    /// Every entry; written after the files (durable) are in place.
    entries: RwLock<HashMap<String, Arc<Entry>>>,
    /// The bytes of files, in memory only (a durable store reads them from disk).
    blobs: RwLock<HashMap<String, Arc<[u8]>>>,
}

/// Characters of a media id: unpadded base64url of 32 random bytes.
const ID_LEN: usize = 43;

fn valid_id(id: &str) -> bool {
    id.len() == ID_LEN
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

impl MediaStore {
    /// In memory.
    pub fn in_memory() -> MediaStore {
        MediaStore {
            dir: None,
            entries: RwLock::default(),
            blobs: RwLock::default(),
        }
    }

    /// Durable in `data_dir/media`, reading the entries there.
    pub fn open(data_dir: &Path) -> Result<MediaStore, String> {
        let dir = data_dir.join("media");
        std::fs::create_dir_all(&dir).map_err(|e| format!("creating {}: {e}", dir.display()))?;
        let mut entries = HashMap::new();
        let listing =
            std::fs::read_dir(&dir).map_err(|e| format!("reading {}: {e}", dir.display()))?;
        for item in listing {
            let path = item
                .map_err(|e| format!("reading {}: {e}", dir.display()))?
                .path();
            let Some(id) = path
                .file_name()
                .and_then(|n| n.to_str())
                .and_then(|n| n.strip_suffix(".json"))
                .filter(|id| valid_id(id))
            else {
                continue; // .bin files, temporary files
            };
            let text = std::fs::read_to_string(&path)
                .map_err(|e| format!("reading {}: {e}", path.display()))?;
            let entry: Entry = serde_json::from_str(&text)
                .map_err(|e| format!("parsing {}: {e}", path.display()))?;
            entries.insert(id.to_string(), Arc::new(entry));
        }
        Ok(MediaStore {
            dir: Some(dir),
            entries: RwLock::new(entries),
            blobs: RwLock::default(),
        })
    }

    /// Stores `entry` (and `bytes`, for files) under a new media id.
    pub fn put(&self, entry: Entry, bytes: Option<&[u8]>) -> Result<String, String> {
        let id = crate::keys::random::<32>().map(|r| super::openid::b64url(&r))?;
        match &self.dir {
            Some(dir) => {
                if let Some(bytes) = bytes {
                    let path = dir.join(format!("{id}.bin"));
                    write_atomically(&path, bytes)
                        .map_err(|e| format!("writing {}: {e}", path.display()))?;
                }
                let path = dir.join(format!("{id}.json"));
                let json = serde_json::to_vec(&entry).map_err(|e| e.to_string())?;
                write_atomically(&path, &json)
                    .map_err(|e| format!("writing {}: {e}", path.display()))?;
            }
            None => {
                if let Some(bytes) = bytes {
                    self.blobs
                        .write()
                        .unwrap_or_else(|p| p.into_inner())
                        .insert(id.clone(), Arc::from(bytes));
                }
            }
        }
        self.entries
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .insert(id.clone(), Arc::new(entry));
        Ok(id)
    }

    /// The entry `id` of `account`.
    pub fn get(&self, account: u32, id: &str) -> Option<Arc<Entry>> {
        let entries = self.entries.read().unwrap_or_else(|p| p.into_inner());
        entries.get(id).filter(|e| e.account == account).cloned()
    }

    /// The bytes of file `id` of `account`.
    pub fn bytes(&self, account: u32, id: &str) -> Result<Option<Arc<[u8]>>, String> {
        if self.get(account, id).is_none() {
            return Ok(None);
        }
        match &self.dir {
            Some(dir) => {
                let path = dir.join(format!("{id}.bin"));
                match std::fs::read(&path) {
                    Ok(b) => Ok(Some(Arc::from(b))),
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
                    Err(e) => Err(format!("reading {}: {e}", path.display())),
                }
            }
            None => Ok(self
                .blobs
                .read()
                .unwrap_or_else(|p| p.into_inner())
                .get(id)
                .cloned()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn image(account: u32) -> Entry {
        Entry {
            account,
            kind: Kind::Image,
            format: "png".into(),
            bytes: 3,
            duration_secs: 0,
            created_at: 1,
            video: None,
            articles: vec![],
        }
    }

    #[test]
    fn entries_belong_to_their_account_and_survive_reopening() {
        let dir = std::env::temp_dir().join(format!("herald-media-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let store = MediaStore::open(&dir).unwrap();
        let id = store.put(image(1), Some(b"abc")).unwrap();
        assert_eq!(id.len(), ID_LEN);
        assert!(store.get(2, &id).is_none());
        assert_eq!(&*store.bytes(1, &id).unwrap().unwrap(), b"abc");
        drop(store);
        let store = MediaStore::open(&dir).unwrap();
        assert_eq!(*store.get(1, &id).unwrap(), image(1));
        assert!(store.bytes(2, &id).unwrap().is_none());
        let _ = std::fs::remove_dir_all(&dir);

        let memory = MediaStore::in_memory();
        let id = memory.put(image(1), Some(b"xyz")).unwrap();
        assert_eq!(&*memory.bytes(1, &id).unwrap().unwrap(), b"xyz");
        assert!(memory.get(1, "nope").is_none());
    }
}

//! Reading only what a blog may publish. Everything postbode reads from a
//! blog folder ends up in feeds and emails, so a symbolic link must not turn
//! a private file (`/proc/self/environ`, `/etc/shadow`, a folder linked to
//! `/usr/share/doc`) into a post or an image. A file is read only when its
//! real path (after resolving every link) lies inside an allowed root (the
//! blog folder; [`Roots::new`] takes more, for a static folder), and only
//! when it is a regular file: a FIFO would hang the build, a device never
//! ends, and `/proc` and `/sys` are never read at all.

use std::fs::{self, File};
use std::io::{self, Read};
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use rustix::fs::{Mode, OFlags, ResolveFlags};

use crate::config::BlogConfig;

/// Folders no build ever reads from, whatever links point there.
const SYSTEM_FOLDERS: &[&str] = &["/proc", "/sys", "/dev"];

/// Why a file was not read.
#[derive(Debug, thiserror::Error)]
pub enum Refusal {
    #[error(
        "it leads (through a symbolic link) to {}, outside the blog folder, and is not published; copy the file into the blog folder if it belongs to the blog",
        real.display()
    )]
    Outside { real: PathBuf },
    #[error("it leads to {}, a system folder postbode never reads", real.display())]
    System { real: PathBuf },
    #[error("it is {kind}, not a regular file, and is not read; replace it with a regular file")]
    Special { kind: &'static str },
    #[error("it is {len} bytes, more than the {max} bytes postbode reads")]
    TooLarge { len: u64, max: u64 },
    #[error("cannot read it: {0}")]
    Io(#[from] io::Error),
}

/// The folders a build may read files from, as real paths.
#[derive(Debug, Clone, Default)]
pub struct Roots {
    real: Vec<PathBuf>,
    /// Each root held open, for [`Beneath`] (empty when it cannot be).
    open: Arc<[Beneath]>,
    /// The site's `static/` folder: its files are served by the site itself,
    /// so they are linked to, never read or copied.
    static_dir: Option<PathBuf>,
}

impl Roots {
    /// The allowed folders; one that does not exist allows nothing.
    pub fn new<P: AsRef<Path>>(dirs: impl IntoIterator<Item = P>) -> Roots {
        let mut real = Vec::new();
        let mut open = Vec::new();
        for dir in dirs {
            let Ok(r) = fs::canonicalize(dir.as_ref()) else {
                continue;
            };
            open.extend(Beneath::hold(dir.as_ref(), &r));
            real.push(r);
        }
        Roots {
            real,
            open: open.into(),
            static_dir: None,
        }
    }

    /// The roots of one blog: its folder, and where its site's static
    /// files are (see [`BlogConfig::static_folder`]).
    pub fn of_blog(config: &BlogConfig) -> Roots {
        Roots::new([&config.source]).with_static_dir(config.static_folder())
    }

    pub fn with_static_dir(mut self, dir: Option<PathBuf>) -> Roots {
        self.static_dir = dir;
        self
    }

    /// The site's static folder, lexically normalised.
    pub fn static_dir(&self) -> Option<&Path> {
        self.static_dir.as_deref()
    }

    /// The real path of `path` when it lies inside a root (of any type).
    pub fn locate(&self, path: &Path) -> Result<PathBuf, Refusal> {
        if let Some((real, _)) = self.open_beneath(path, Open::Path) {
            return Ok(real);
        }
        let real = fs::canonicalize(path)?;
        if is_system(&real) {
            return Err(Refusal::System { real });
        }
        if !self.real.iter().any(|root| real.starts_with(root)) {
            return Err(Refusal::Outside { real });
        }
        Ok(real)
    }

    /// The real path of `path` when it is a regular file inside a root.
    pub fn resolve(&self, path: &Path) -> Result<PathBuf, Refusal> {
        if let Some((real, file)) = self.open_beneath(path, Open::Path) {
            check_type(&file.metadata()?.file_type())?;
            return Ok(real);
        }
        let real = self.locate(path)?;
        check_type(&fs::metadata(&real)?.file_type())?;
        Ok(real)
    }

    /// The bytes of `path` when it is a regular file inside a root.
    pub fn read(&self, path: &Path) -> Result<Vec<u8>, Refusal> {
        self.read_located(path).map(|(_, bytes)| bytes)
    }

    /// [`Roots::read`], with the real path of the file read.
    pub fn read_located(&self, path: &Path) -> Result<(PathBuf, Vec<u8>), Refusal> {
        let mut bytes = Vec::new();
        let real = self.read_into(path, &mut bytes, u64::MAX)?;
        Ok((real, bytes))
    }

    /// [`Roots::read`] into `bytes` (cleared first), which a caller reading
    /// thousands of files keeps, refusing a file of more than `max` bytes;
    /// returns the real path of the file read.
    pub fn read_into(
        &self,
        path: &Path,
        bytes: &mut Vec<u8>,
        max: u64,
    ) -> Result<PathBuf, Refusal> {
        bytes.clear();
        // The type is known before the file is opened to read (opening a
        // device may do something), and checked again on the open file.
        let located = self.open_beneath(path, Open::Path);
        if let Some((real, file)) = located {
            check_type(&file.metadata()?.file_type())?;
            if let Some((_, file)) = self.open_beneath(path, Open::Read) {
                read_sized(file, bytes, max)?;
                return Ok(real);
            }
        }
        let real = self.resolve(path)?;
        read_sized(open_regular(&real)?, bytes, max)?;
        Ok(real)
    }

    /// The fast way to what the slow one (real path, then checks) finds:
    /// `path` opened by the kernel beneath a root without following any
    /// link, so its real path is the root's joined to the rest. `None`
    /// when that cannot say (a link on the way, a missing file, an old
    /// kernel): the caller takes the slow way, which tells why.
    fn open_beneath(&self, path: &Path, how: Open) -> Option<(PathBuf, File)> {
        self.open.iter().find_map(|root| root.open(path, how))
    }
}

/// What [`Beneath::open`] opens a file for.
#[derive(Debug, Clone, Copy)]
enum Open {
    /// Only to know it is there, whatever it is.
    Path,
    /// To read it, without blocking on a FIFO: only what [`Open::Path`]
    /// found to be a regular file.
    Read,
}

/// One root held open. Resolving every path with `realpath` cost a
/// `readlink` per component, twice per post and per image: 15% of a full
/// build's CPU. `openat2` with `RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS` does
/// it in one call and, unlike a real path checked before opening, leaves
/// no moment for a link to be swapped in between.
#[derive(Debug)]
struct Beneath {
    /// The root as callers spell the paths inside it, lexically normalised.
    given: PathBuf,
    real: PathBuf,
    dir: OwnedFd,
}

/// Set once `openat2` turned out to be missing (Linux before 5.6, or a
/// sandbox that forbids it): every file then takes the slow way.
static NO_OPENAT2: AtomicBool = AtomicBool::new(false);

impl Beneath {
    fn hold(given: &Path, real: &Path) -> Option<Beneath> {
        if is_system(real) {
            return None;
        }
        let flags = OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC;
        let dir = rustix::fs::open(real, flags, Mode::empty()).ok()?;
        Some(Beneath {
            given: crate::paths::normalize_path(given),
            real: real.to_path_buf(),
            dir,
        })
    }

    fn open(&self, path: &Path, how: Open) -> Option<(PathBuf, File)> {
        if NO_OPENAT2.load(Ordering::Relaxed) {
            return None;
        }
        let rest = path
            .strip_prefix(&self.given)
            .or_else(|_| path.strip_prefix(&self.real))
            .ok()?;
        if rest.as_os_str().is_empty() {
            return None;
        }
        // Never O_NOFOLLOW: with O_PATH it opens a link itself instead of
        // failing; RESOLVE_NO_SYMLINKS already refuses a link anywhere.
        let flags = OFlags::CLOEXEC
            | match how {
                Open::Path => OFlags::PATH,
                Open::Read => OFlags::RDONLY | OFlags::NONBLOCK,
            };
        let resolve =
            ResolveFlags::BENEATH | ResolveFlags::NO_SYMLINKS | ResolveFlags::NO_MAGICLINKS;
        match rustix::fs::openat2(&self.dir, rest, flags, Mode::empty(), resolve) {
            // No link on the way and nothing above the root: the `..` in
            // `rest`, if any, are lexical.
            Ok(fd) => Some((
                crate::paths::normalize_path(&self.real.join(rest)),
                fd.into(),
            )),
            Err(e) => {
                if e == rustix::io::Errno::NOSYS || e == rustix::io::Errno::PERM {
                    NO_OPENAT2.store(true, Ordering::Relaxed);
                }
                None
            }
        }
    }
}

/// The bytes of a configured file (`tags.yml`, `authors.yml`): it may live
/// anywhere, but must be a regular file outside the system folders.
pub fn read_regular(path: &Path) -> Result<Vec<u8>, Refusal> {
    let real = fs::canonicalize(path)?;
    if is_system(&real) {
        return Err(Refusal::System { real });
    }
    check_type(&fs::metadata(&real)?.file_type())?;
    read_open(open_regular(&real)?)
}

/// Opens `real` (a path without links, from [`Roots::resolve`]) without
/// following a link put in its place since, and without blocking should a
/// FIFO have been: the type is checked again on the open file.
pub fn open_regular(real: &Path) -> Result<File, Refusal> {
    let mut options = fs::OpenOptions::new();
    options.read(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        options.custom_flags(libc::O_NONBLOCK | libc::O_NOFOLLOW);
    }
    let file = options.open(real)?;
    check_type(&file.metadata()?.file_type())?;
    Ok(file)
}

/// The bytes of an open regular file into `bytes` (cleared first),
/// refusing it when it has, or grows to, more than `max`. One `fstat` gives
/// the type and the size, so a post costs two reads and nothing else:
/// `read_to_end` would ask for the size again and seek, three more system
/// calls for each of the thousands of files a build reads.
fn read_sized(mut file: File, bytes: &mut Vec<u8>, max: u64) -> Result<(), Refusal> {
    bytes.clear();
    let meta = file.metadata()?;
    check_type(&meta.file_type())?;
    if meta.len() > max {
        return Err(Refusal::TooLarge {
            len: meta.len(),
            max,
        });
    }
    // One byte more than the size: a file that grew since fills it.
    let room = usize::try_from(meta.len()).map_err(io::Error::other)? + 1;
    bytes.resize(room, 0);
    let mut filled = 0;
    while filled < room {
        match file.read(&mut bytes[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => {
                bytes.clear();
                return Err(e.into());
            }
        }
    }
    bytes.truncate(filled);
    if filled == room {
        // It grew: the rest, up to one byte past the limit.
        let rest = max.saturating_add(1).saturating_sub(filled as u64);
        (&mut file).take(rest).read_to_end(bytes)?;
    }
    let len = bytes.len() as u64;
    if len > max {
        bytes.clear();
        return Err(Refusal::TooLarge { len, max });
    }
    Ok(())
}

fn read_open(mut file: File) -> Result<Vec<u8>, Refusal> {
    let mut bytes = Vec::new();
    file.read_to_end(&mut bytes)?;
    Ok(bytes)
}

fn is_system(real: &Path) -> bool {
    SYSTEM_FOLDERS.iter().any(|f| real.starts_with(f))
}

fn check_type(t: &fs::FileType) -> Result<(), Refusal> {
    if t.is_file() {
        return Ok(());
    }
    let kind = if t.is_dir() {
        "a folder"
    } else if t.is_symlink() {
        "a symbolic link"
    } else {
        special_kind(t)
    };
    Err(Refusal::Special { kind })
}

#[cfg(unix)]
fn special_kind(t: &fs::FileType) -> &'static str {
    use std::os::unix::fs::FileTypeExt as _;
    if t.is_fifo() {
        "a named pipe (FIFO)"
    } else if t.is_socket() {
        "a socket"
    } else if t.is_block_device() || t.is_char_device() {
        "a device"
    } else {
        "a special file"
    }
}

#[cfg(not(unix))]
fn special_kind(_: &fs::FileType) -> &'static str {
    "a special file"
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn files_inside_the_root_are_read_also_through_a_link_inside_it() {
        let dir = tempfile::tempdir().unwrap();
        let blog = dir.path().join("blog");
        fs::create_dir_all(&blog).unwrap();
        fs::write(blog.join("a.md"), "a").unwrap();
        std::os::unix::fs::symlink(blog.join("a.md"), blog.join("b.md")).unwrap();
        let roots = Roots::new([&blog]);
        assert_eq!(roots.read(&blog.join("b.md")).unwrap(), b"a");
    }

    #[test]
    fn links_that_leave_the_root_and_system_files_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let blog = dir.path().join("blog");
        fs::create_dir_all(&blog).unwrap();
        fs::write(dir.path().join("secret"), "s").unwrap();
        std::os::unix::fs::symlink(dir.path().join("secret"), blog.join("s.md")).unwrap();
        std::os::unix::fs::symlink("/proc/self/environ", blog.join("env.md")).unwrap();
        let roots = Roots::new([&blog]);
        assert!(matches!(
            roots.read(&blog.join("s.md")),
            Err(Refusal::Outside { .. })
        ));
        assert!(matches!(
            roots.read(&blog.join("env.md")),
            Err(Refusal::System { .. })
        ));
        assert!(matches!(
            read_regular(Path::new("/proc/self/environ")),
            Err(Refusal::System { .. })
        ));
    }

    #[test]
    fn the_fast_way_finds_what_the_real_path_finds_and_leaves_links_to_the_slow_way() {
        let dir = tempfile::tempdir().unwrap();
        let blog = dir.path().join("blog");
        fs::create_dir_all(blog.join("2024/img")).unwrap();
        fs::write(blog.join("2024/a.md"), "a").unwrap();
        fs::write(blog.join("2024/img/p.png"), "p").unwrap();
        fs::write(dir.path().join("secret"), "s").unwrap();
        std::os::unix::fs::symlink(dir.path(), blog.join("up")).unwrap();
        std::os::unix::fs::symlink("../2024", blog.join("2024/same")).unwrap();
        std::os::unix::fs::symlink("2024/a.md", blog.join("b.md")).unwrap();
        let roots = Roots::new([&blog]);
        let root = &roots.open[0];
        // Without a link on the way, one `openat2` answers, `..` included,
        // with the path `realpath` gives.
        for path in ["2024/a.md", "2024/img/../a.md", "2024/img/p.png"] {
            let path = blog.join(path);
            let (real, _) = root.open(&path, Open::Read).expect("opened beneath");
            assert_eq!(real, fs::canonicalize(&path).unwrap());
            assert_eq!(roots.resolve(&path).unwrap(), real);
        }
        // A link on the way, a missing file, a path that leaves the root:
        // the slow way decides, and a link inside the blog is still read.
        for path in [
            "2024/same/a.md",
            "b.md",
            "up/secret",
            "2024/gone.md",
            "../secret",
        ] {
            for how in [Open::Path, Open::Read] {
                assert!(root.open(&blog.join(path), how).is_none(), "{path}");
            }
        }
        assert_eq!(roots.read(&blog.join("b.md")).unwrap(), b"a");
        assert_eq!(roots.read(&blog.join("2024/same/a.md")).unwrap(), b"a");
        for path in ["up/secret", "../secret", "2024/../../secret"] {
            let refused = roots.read(&blog.join(path));
            assert!(matches!(refused, Err(Refusal::Outside { .. })), "{path}");
        }
        assert!(matches!(
            roots.read(&blog.join("2024/gone.md")),
            Err(Refusal::Io(_))
        ));
        // A folder is located but not read.
        assert_eq!(
            roots.locate(&blog.join("2024/img")).unwrap(),
            fs::canonicalize(blog.join("2024/img")).unwrap()
        );
        assert!(matches!(
            roots.read(&blog.join("2024/img")),
            Err(Refusal::Special { kind: "a folder" })
        ));
    }

    #[test]
    fn a_fifo_is_refused_without_blocking() {
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("x.md");
        let made = std::process::Command::new("mkfifo").arg(&fifo).status();
        assert!(made.unwrap().success());
        let roots = Roots::new([dir.path()]);
        let err = roots.read(&fifo).unwrap_err();
        assert!(err.to_string().contains("named pipe"), "{err}");
        assert!(open_regular(&fifo).is_err());
    }

    #[test]
    fn a_file_over_the_limit_is_refused_and_one_at_it_is_read() {
        let dir = tempfile::tempdir().unwrap();
        let blog = dir.path().join("blog");
        fs::create_dir_all(&blog).unwrap();
        fs::write(blog.join("ten.md"), "0123456789").unwrap();
        std::os::unix::fs::symlink("ten.md", blog.join("link.md")).unwrap();
        let roots = Roots::new([&blog]);
        let mut bytes = b"left from the last file".to_vec();
        // The fast way (`openat2`) and the slow one (a link on the way).
        for name in ["ten.md", "link.md"] {
            let path = blog.join(name);
            roots.read_into(&path, &mut bytes, 10).unwrap();
            assert_eq!(bytes, b"0123456789", "{name}");
            let refused = roots.read_into(&path, &mut bytes, 9).unwrap_err();
            assert!(
                matches!(refused, Refusal::TooLarge { len: 10, max: 9 }),
                "{name}: {refused}"
            );
            assert!(bytes.is_empty(), "{name}");
        }
    }

    #[test]
    fn a_file_longer_than_its_size_said_is_read_to_its_end_and_limited() {
        // A /proc file says it has no bytes and has some: what a file that
        // grows between the size and the read looks like.
        let path = Path::new("/proc/self/mounts");
        let said = fs::metadata(path).unwrap().len();
        assert_eq!(said, 0, "the test needs a file that hides its size");
        let mut bytes = Vec::new();
        read_sized(File::open(path).unwrap(), &mut bytes, u64::MAX).unwrap();
        assert!(bytes.len() > 1, "{} bytes", bytes.len());
        assert_eq!(bytes, fs::read(path).unwrap());
        let refused = read_sized(File::open(path).unwrap(), &mut bytes, 5).unwrap_err();
        assert!(
            matches!(refused, Refusal::TooLarge { len: 6, max: 5 }),
            "{refused}"
        );
        assert!(bytes.is_empty());
    }
}

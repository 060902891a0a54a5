//! Where this process runs, as DataDog's tracers tell the agent: the
//! container ID read from `/proc/self/cgroup` (cgroup v1 and v2), else the
//! inode of the process's cgroup node, so the agent can attach container
//! and pod tags to what it receives (`Datadog-Container-ID` and
//! `Datadog-Entity-ID` headers on trace payloads, as dd-trace-py's
//! `container.py` does).

use std::os::unix::fs::MetadataExt;

/// The container ID or cgroup inode of a process.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Origin {
    /// The container ID (64 hex digits, a UUID, or an ECS task ID).
    pub container_id: Option<String>,
    /// The inode of the process's cgroup node under `/sys/fs/cgroup`, when
    /// no container ID is in the path (cgroup v2 namespaces hide it).
    pub cgroup_inode: Option<u64>,
}

impl Origin {
    /// This process's origin, from `/proc/self/cgroup` (empty outside Linux
    /// or when the file cannot be read).
    pub fn detect() -> Self {
        std::fs::read_to_string("/proc/self/cgroup")
            .map(|text| {
                Self::from_cgroup(&text, |path| {
                    std::fs::metadata(format!("/sys/fs/cgroup/{}", path.trim_matches('/')))
                        .ok()
                        .map(|m| m.ino())
                })
            })
            .unwrap_or_default()
    }

    /// The origin a `/proc/<pid>/cgroup` text gives: the first line with a
    /// container ID at the end of its path, or whose cgroup node has an
    /// inode (`inode_of` stats `/sys/fs/cgroup/<path>`).
    pub fn from_cgroup(text: &str, inode_of: impl Fn(&str) -> Option<u64>) -> Self {
        for line in text.lines() {
            // `<id>:<controllers>:<path>`
            let mut fields = line.trim().splitn(3, ':');
            let (Some(id), Some(_), Some(path)) = (fields.next(), fields.next(), fields.next())
            else {
                continue;
            };
            if id.is_empty() || !id.bytes().all(|b| b.is_ascii_digit()) || path.is_empty() {
                continue;
            }
            let container_id = path.rsplit('/').next().and_then(container_id);
            let cgroup_inode = inode_of(path);
            if container_id.is_some() || cgroup_inode.is_some() {
                return Self {
                    container_id,
                    cgroup_inode,
                };
            }
        }
        Self::default()
    }

    /// `Datadog-Container-ID`, when a container ID is known.
    pub fn container_id_header(&self) -> Option<&str> {
        self.container_id.as_deref()
    }

    /// `Datadog-Entity-ID`: `ci-<container ID>`, else `in-<cgroup inode>`.
    pub fn entity_id_header(&self) -> Option<String> {
        match (&self.container_id, self.cgroup_inode) {
            (Some(id), _) => Some(format!("ci-{id}")),
            (None, Some(inode)) => Some(format!("in-{inode}")),
            (None, None) => None,
        }
    }
}

/// The container ID ending a cgroup path segment (`docker-<id>.scope`,
/// `cri-containerd-<id>.scope`, `<id>`): 64 hex digits, a UUID (dashes or
/// underscores), or an ECS task ID (`<32 hex>-<digits>`), as DataDog's
/// pattern finds it.
fn container_id(segment: &str) -> Option<String> {
    let segment = segment.strip_suffix(".scope").unwrap_or(segment);
    let hex = |s: &str| s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
    // 64 hex digits at the end.
    if segment.len() >= 64 {
        let tail = &segment[segment.len() - 64..];
        if segment.is_char_boundary(segment.len() - 64) && hex(tail) {
            return Some(tail.to_owned());
        }
    }
    // A UUID at the end: 8-4-4-4-12, separated by `-` or `_`.
    if segment.len() >= 36 && segment.is_char_boundary(segment.len() - 36) {
        let tail = &segment[segment.len() - 36..];
        let groups: Vec<&str> = tail.split(['-', '_']).collect();
        if groups.iter().map(|g| g.len()).eq([8, 4, 4, 4, 12]) && groups.iter().all(|g| hex(g)) {
            return Some(tail.to_owned());
        }
    }
    // An ECS task: 32 hex digits, a dash, digits.
    if let Some((task, n)) = segment.rsplit_once('-')
        && !n.is_empty()
        && n.bytes().all(|b| b.is_ascii_digit())
        && task.len() >= 32
        && task.is_char_boundary(task.len() - 32)
        && hex(&task[task.len() - 32..])
    {
        return Some(format!("{}-{n}", &task[task.len() - 32..]));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    const DOCKER: &str = "3726184226f5d3147c25fdeab5b60097e378e8a720503a5e19ecfdf29f869860";

    fn origin(text: &str) -> Origin {
        Origin::from_cgroup(text, |_| None)
    }

    #[test]
    fn container_ids_of_docker_kubernetes_ecs_and_cgroup_v2() {
        let v1 = format!("12:memory:/docker/{DOCKER}\n11:cpu:/docker/{DOCKER}\n");
        assert_eq!(origin(&v1).container_id.as_deref(), Some(DOCKER));
        let kube = format!(
            "1:name=systemd:/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod2d3da189_6407_48e3_9ab6_78188d75e609.slice/cri-containerd-{DOCKER}.scope\n"
        );
        assert_eq!(origin(&kube).container_id.as_deref(), Some(DOCKER));
        let pod_uuid = "1:name=systemd:/kubepods/besteffort/pod3d274242-8ee0-11e9-a8a6-1e68d864ef1a/34dc0b5e-626f-2c5c-4c51-70e34b10e765\n";
        assert_eq!(
            origin(pod_uuid).container_id.as_deref(),
            Some("34dc0b5e-626f-2c5c-4c51-70e34b10e765")
        );
        let ecs = "1:name=systemd:/ecs/34dc0b5e626f2c5c4c5170e34b10e765-1234567890\n";
        assert_eq!(
            origin(ecs).container_id.as_deref(),
            Some("34dc0b5e626f2c5c4c5170e34b10e765-1234567890")
        );
        let v2 = format!("0::/system.slice/docker-{DOCKER}.scope\n");
        let o = origin(&v2);
        assert_eq!(o.container_id.as_deref(), Some(DOCKER));
        assert_eq!(o.entity_id_header(), Some(format!("ci-{DOCKER}")));
        assert_eq!(o.container_id_header(), Some(DOCKER));
    }

    #[test]
    fn no_container_id_falls_back_to_the_cgroup_inode() {
        // cgroup v2 in a namespace: `0::/`; a 32-digit name is no container ID.
        let text = "4:memory:/process_api/319c34bdd61044c942f6fbbf82c122c5\n0::/\n";
        let o = Origin::from_cgroup(text, |path| (path == "/").then_some(4026531835));
        assert_eq!(o.container_id, None);
        assert_eq!(o.entity_id_header().as_deref(), Some("in-4026531835"));
        assert_eq!(o.container_id_header(), None);
        assert_eq!(origin("garbage\n\n:::\n"), Origin::default());
        assert_eq!(origin("").entity_id_header(), None);
    }
}

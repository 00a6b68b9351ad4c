-- kernelsec_nb case database: the tables an analyst queries (documented in README.md).
-- Created on first open; every statement is idempotent.

CREATE TABLE IF NOT EXISTS files (
    path        VARCHAR PRIMARY KEY,  -- absolute path when loaded
    sha256      VARCHAR NOT NULL,     -- of the file's bytes as stored (compressed if gzip)
    bytes       BIGINT,               -- size on disk
    compressed  BOOLEAN,
    format      VARCHAR,              -- 'ndjson' or 'json-documents' (pretty-printed)
    sources     VARCHAR[],            -- which of tetragon/hubble/falco it held
    lines       BIGINT,               -- physical lines (records for json-documents)
    loaded      BIGINT,
    duplicates  BIGINT,
    quarantined BIGINT,
    blank       BIGINT,
    first_time  TIMESTAMPTZ,
    last_time   TIMESTAMPTZ,
    loaded_at   TIMESTAMPTZ
);

-- Events of kinds with no table of their own (Tetragon's process_loader and process_throttle,
-- Tracee's packets and other syscalls, Inspektor Gadget's DNS and mounts); every column of the
-- events view.
CREATE TABLE IF NOT EXISTS other_events (
    event_id       VARCHAR,      -- first 20 hex digits of xxh3_128(line without trailing whitespace)
    source         VARCHAR,      -- the tool: tetragon, tracee, inspektor_gadget, ...
    kind           VARCHAR,      -- process_exec, process_kprobe, ..., flow, alert
    time           TIMESTAMPTZ,  -- UTC, microseconds
    time_ns        BIGINT,       -- nanoseconds since epoch, as exported
    node           VARCHAR,
    cluster        VARCHAR,
    namespace      VARCHAR,
    pod            VARCHAR,
    workload       VARCHAR,
    container_id   VARCHAR,      -- 12-hex short id in every source
    exec_id        VARCHAR,
    parent_exec_id VARCHAR,
    pid            BIGINT,
    uid            BIGINT,
    "binary"         VARCHAR,
    args           VARCHAR,
    src_ip         VARCHAR,
    src_port       BIGINT,
    dst_ip         VARCHAR,
    dst_port       BIGINT,
    protocol       VARCHAR,
    verdict        VARCHAR,
    http_method    VARCHAR,
    http_path      VARCHAR,
    http_code      BIGINT,
    dns_query      VARCHAR,
    rule           VARCHAR,
    priority       VARCHAR,
    summary        VARCHAR,      -- one line: kprobe function, flow summary, alert rule, exit signal
    file           VARCHAR,
    line           BIGINT,
    byte_offset    BIGINT        -- of the line in the decompressed file (for Case.raw)
);

-- Exec and exit events of every source with process events (Tetragon, Tracee, Inspektor Gadget).
CREATE TABLE IF NOT EXISTS process_events (
    event_id VARCHAR, source VARCHAR, kind VARCHAR, time TIMESTAMPTZ, time_ns BIGINT, node VARCHAR, cluster VARCHAR,
    exec_id VARCHAR, pid BIGINT, uid BIGINT, "binary" VARCHAR, args VARCHAR, cwd VARCHAR,
    flags VARCHAR, start_ns BIGINT, parent_exec_id VARCHAR, tid BIGINT, auid BIGINT,
    in_init_tree BOOLEAN, namespace VARCHAR, pod VARCHAR, workload VARCHAR, workload_kind VARCHAR,
    container_id VARCHAR, container_full_id VARCHAR, container_name VARCHAR, image VARCHAR,
    pod_labels MAP(VARCHAR, VARCHAR), cap_permitted VARCHAR[], cap_effective VARCHAR[],
    cap_inheritable VARCHAR[], exit_status BIGINT, signal VARCHAR,
    parent_pid BIGINT, parent_uid BIGINT, parent_binary VARCHAR, parent_args VARCHAR,
    parent_cwd VARCHAR, parent_flags VARCHAR, parent_start_ns BIGINT, parent_parent_exec_id VARCHAR,
    parent_namespace VARCHAR, parent_pod VARCHAR, parent_workload VARCHAR, parent_container_id VARCHAR,
    parent_in_init_tree BOOLEAN, summary VARCHAR,
    file VARCHAR, line BIGINT, byte_offset BIGINT  -- provenance: the raw line (Case.raw)
);

-- Hooks and the process-level file and socket events (Tetragon's kprobes, tracepoints, LSM hooks;
-- Tracee's and Inspektor Gadget's opens and connects).
CREATE TABLE IF NOT EXISTS kprobes (
    event_id VARCHAR, source VARCHAR, kind VARCHAR, time TIMESTAMPTZ, time_ns BIGINT, node VARCHAR, cluster VARCHAR,
    namespace VARCHAR, pod VARCHAR, workload VARCHAR, container_id VARCHAR,
    exec_id VARCHAR, parent_exec_id VARCHAR, pid BIGINT, uid BIGINT, "binary" VARCHAR, args VARCHAR,
    start_ns BIGINT, in_init_tree BOOLEAN,  -- the process's (for one started before the capture)
    function_name VARCHAR, policy_name VARCHAR, action VARCHAR, return_value VARCHAR,
    saddr VARCHAR, sport BIGINT, daddr VARCHAR, dport BIGINT, protocol VARCHAR,
    file_path VARCHAR, capability VARCHAR, hook_args VARCHAR, summary VARCHAR,
    file VARCHAR, line BIGINT, byte_offset BIGINT  -- provenance: the raw line (Case.raw)
);

CREATE TABLE IF NOT EXISTS flows (
    event_id VARCHAR, time TIMESTAMPTZ, time_ns BIGINT, node VARCHAR, cluster VARCHAR,
    verdict VARCHAR, drop_reason VARCHAR,
    src_namespace VARCHAR, src_pod VARCHAR, src_workload VARCHAR, src_labels MAP(VARCHAR, VARCHAR),
    src_identity BIGINT, src_names VARCHAR[], src_ip VARCHAR, src_port BIGINT,
    dst_namespace VARCHAR, dst_pod VARCHAR, dst_workload VARCHAR, dst_labels MAP(VARCHAR, VARCHAR),
    dst_labels_text VARCHAR,  -- dst_labels as text ({app=web, 'reserved:world'=''}), for hunting
    dst_identity BIGINT, dst_names VARCHAR[], dst_ip VARCHAR, dst_port BIGINT,
    protocol VARCHAR, icmp_type BIGINT, tcp_flags VARCHAR, flow_type VARCHAR, l7_type VARCHAR, l7_direction VARCHAR,
    http_method VARCHAR, http_url VARCHAR, http_path VARCHAR, http_code BIGINT,
    dns_query VARCHAR, dns_ips VARCHAR[], dns_rcode BIGINT,
    is_reply BOOLEAN, traffic_direction VARCHAR, observation_point VARCHAR, summary VARCHAR,
    file VARCHAR, line BIGINT, byte_offset BIGINT  -- provenance: the raw line (Case.raw)
);

-- Alerts of detection engines (Falco's rules, Tracee's signatures).
CREATE TABLE IF NOT EXISTS alerts (
    event_id VARCHAR, source VARCHAR, time TIMESTAMPTZ, time_ns BIGINT, node VARCHAR,
    rule VARCHAR, priority VARCHAR, alert_source VARCHAR, tags VARCHAR[],
    namespace VARCHAR, pod VARCHAR, workload VARCHAR, container_id VARCHAR, pid BIGINT, ppid BIGINT,
    proc_name VARCHAR, pname VARCHAR, cmdline VARCHAR, user_name VARCHAR,
    container_name VARCHAR, image VARCHAR, output VARCHAR, uuid VARCHAR,
    fields MAP(VARCHAR, VARCHAR),
    file VARCHAR, line BIGINT, byte_offset BIGINT,  -- provenance: the raw line (Case.raw)
    k8s_filled BOOLEAN,  -- namespace/pod/workload taken from Tetragon's processes of the container
    -- the process as the alerting tool itself names it, where it also writes the process events
    -- (Tracee: the exec_id of its exec events); NULL for Falco (case.alerts() attributes those)
    exec_id VARCHAR
);

CREATE TABLE IF NOT EXISTS quarantine (
    file      VARCHAR,
    line      BIGINT,
    byte_offset BIGINT,
    reason    VARCHAR,
    raw       VARCHAR,  -- first 4096 characters (invalid UTF-8 replaced by U+FFFD)
    raw_bytes BIGINT,   -- original length of the line in bytes
    -- a row stands for repeat_count byte-identical consecutive lines, line..line_end, which end
    -- at byte_end (the last one's line end included); for a pretty-printed document, the lines
    -- line..line_end it spans (repeat_count 1)
    line_end     BIGINT,
    byte_end     BIGINT,
    repeat_count BIGINT
);

-- Clock offsets estimated by the last load with Hubble flows (store/_skew.py), per node.
CREATE TABLE IF NOT EXISTS clock_offsets (
    node               VARCHAR,
    clock_offset_ns    BIGINT,  -- how far the node's clock reads ahead of the median node's
    offset_pairs       BIGINT,  -- connections seen on it and another node that tell
    tetragon_offset_ns BIGINT   -- how much later its Hubble flows read than its Tetragon connects
);

-- What processes, the alerts' filled Kubernetes fields and clock_offsets were last built from
-- (store/_derived.py): one row.  A case whose loaded files differ is rebuilt on its next open for
-- writing, and refused by a read-only open.
CREATE TABLE IF NOT EXISTS case_state (
    derived_from VARCHAR,      -- count and md5 of the path and sha256 of every file that brought events
    built_at     TIMESTAMPTZ
);

-- The team's notes (store/notes.py): one row per tag put on an event, a flow or a process; a
-- plain note has no tag.  A load never touches this table.
CREATE TABLE IF NOT EXISTS annotations (
    id          VARCHAR PRIMARY KEY,  -- random (uuid4 hex): notes of two case files never clash
    target_kind VARCHAR NOT NULL,     -- event | flow | exec
    target      VARCHAR NOT NULL,     -- an event_id (event, flow) or an exec_id (exec)
    tag         VARCHAR,
    note        VARCHAR,
    author      VARCHAR,
    created     TIMESTAMPTZ
);

-- Named filters of a query method (store/notes.py): case.query(name) runs them again.
CREATE TABLE IF NOT EXISTS saved_queries (
    name     VARCHAR PRIMARY KEY,
    method   VARCHAR NOT NULL,        -- a query method of the case (notes.QUERY_METHODS)
    filters  VARCHAR NOT NULL,        -- JSON object of the filters
    author   VARCHAR,
    created  TIMESTAMPTZ
);

-- processes: one row per exec_id (of every source with process events), exec and exit merged.
-- seen_as tells how much the capture knows of the process:
--   'exec'      its process_exec is in the capture (full detail)
--   'event'     no process_exec, but its own exit/kprobe events are (started before the capture)
--   'parent'    only seen as the "parent" object of another process's events
--   'reference' only named by another process's parent_exec_id (nothing else is known)
-- exec_event_id: the event_id of its process_exec (the first, for case.raw), NULL without one
-- (Each first event is chosen over its id, time and key alone, then read whole by its id, unique
-- in its table: a window over the whole rows sorted their arguments and capabilities too, 2x slower.)
CREATE OR REPLACE TABLE processes AS
WITH ex AS (
    SELECT * FROM process_events WHERE event_id IN (
        SELECT event_id FROM process_events WHERE kind = 'process_exec'
        QUALIFY row_number() OVER (PARTITION BY exec_id ORDER BY time_ns, event_id) = 1)
),
ends AS (
    SELECT exec_id, min(time_ns) AS exit_ns,
           arg_min(exit_status, time_ns) AS exit_status, arg_min(signal, time_ns) AS signal
    FROM process_events WHERE kind = 'process_exit' GROUP BY exec_id
),
own AS (
    SELECT * FROM process_events WHERE event_id IN (
        SELECT event_id FROM process_events
        WHERE kind <> 'process_exec' AND exec_id NOT IN (SELECT exec_id FROM ex)
        QUALIFY row_number() OVER (PARTITION BY exec_id ORDER BY time_ns, event_id) = 1)
),
hooks AS (
    SELECT * FROM kprobes WHERE event_id IN (
        SELECT event_id FROM kprobes
        WHERE exec_id IS NOT NULL
          AND exec_id NOT IN (SELECT exec_id FROM ex) AND exec_id NOT IN (SELECT exec_id FROM own)
        QUALIFY row_number() OVER (PARTITION BY exec_id ORDER BY time_ns, event_id) = 1)
),
known AS (
    SELECT exec_id FROM ex UNION SELECT exec_id FROM own UNION SELECT exec_id FROM hooks
),
-- every process as the "parent" object of its first child's exec or exit event
as_parent AS (
    SELECT * FROM process_events WHERE event_id IN (
        SELECT event_id FROM process_events WHERE parent_exec_id IS NOT NULL
        QUALIFY row_number() OVER (PARTITION BY parent_exec_id ORDER BY time_ns, event_id) = 1)
),
par AS (
    SELECT * FROM as_parent WHERE parent_exec_id NOT IN (SELECT exec_id FROM known)
),
refs AS (
    SELECT DISTINCT parent_exec_id AS exec_id, node, source FROM events
    WHERE parent_exec_id IS NOT NULL  -- (only sources with process events have one)
      AND parent_exec_id NOT IN (SELECT exec_id FROM known)
      AND parent_exec_id NOT IN (SELECT parent_exec_id FROM par)
    QUALIFY row_number() OVER (PARTITION BY parent_exec_id ORDER BY node) = 1
),
detailed AS (
    SELECT exec_id, source, parent_exec_id, node, namespace, pod, workload, container_id, container_full_id,
           container_name, image, pod_labels, pid, tid, uid, auid, "binary", args, cwd, flags,
           start_ns, in_init_tree, cap_permitted, cap_effective, cap_inheritable, 'exec' AS seen_as,
           event_id AS exec_event_id
    FROM ex
    UNION ALL BY NAME
    SELECT exec_id, source, parent_exec_id, node, namespace, pod, workload, container_id, container_full_id,
           container_name, image, pod_labels, pid, tid, uid, auid, "binary", args, cwd, flags,
           start_ns, in_init_tree, cap_permitted, cap_effective, cap_inheritable, 'event' AS seen_as
    FROM own
    UNION ALL BY NAME
    SELECT exec_id, source, parent_exec_id, node, namespace, pod, workload, container_id,
           pid, uid, "binary", args, start_ns, in_init_tree, 'event' AS seen_as
    FROM hooks
    UNION ALL BY NAME
    SELECT parent_exec_id AS exec_id, source, parent_parent_exec_id AS parent_exec_id, node,
           parent_namespace AS namespace, parent_pod AS pod, parent_workload AS workload,
           parent_container_id AS container_id, parent_pid AS pid, parent_uid AS uid, parent_binary AS "binary", parent_args AS args,
           parent_cwd AS cwd, parent_flags AS flags, parent_start_ns AS start_ns,
           parent_in_init_tree AS in_init_tree, 'parent' AS seen_as
    FROM par
    UNION ALL BY NAME
    SELECT exec_id, node, source, 'reference' AS seen_as FROM refs
)
-- A process started before the capture ('event': only its own exit or hook events) gets what its
-- children's events say of it as their parent where its own events are silent (cwd, flags, and
-- the start time of one seen only in an exit); its capabilities stay unknown.
SELECT d.exec_id, coalesce(d.parent_exec_id, p.parent_parent_exec_id) AS parent_exec_id, d.node,
       coalesce(d.namespace, p.parent_namespace) AS namespace, coalesce(d.pod, p.parent_pod) AS pod,
       coalesce(d.workload, p.parent_workload) AS workload,
       coalesce(d.container_id, p.parent_container_id) AS container_id, d.container_full_id, d.container_name, d.image, d.pod_labels,
       coalesce(d.pid, p.parent_pid) AS pid, d.tid, coalesce(d.uid, p.parent_uid) AS uid, d.auid,
       coalesce(d."binary", p.parent_binary) AS "binary", coalesce(d.args, p.parent_args) AS args,
       coalesce(d.cwd, p.parent_cwd) AS cwd,
       make_timestamp(coalesce(d.start_ns, p.parent_start_ns) // 1000)::TIMESTAMPTZ AS start_time,
       coalesce(d.start_ns, p.parent_start_ns) AS start_ns,
       make_timestamp(e.exit_ns // 1000)::TIMESTAMPTZ AS exit_time, e.exit_ns,
       e.exit_status, e.signal,
       d.cap_effective AS capabilities, d.cap_permitted, d.cap_inheritable,
       coalesce(d.in_init_tree, p.parent_in_init_tree) AS in_init_tree, coalesce(d.flags, p.parent_flags) AS flags, d.seen_as,
       d.exec_event_id, d.source
FROM detailed d LEFT JOIN ends e USING (exec_id)
LEFT JOIN as_parent p ON p.parent_exec_id = d.exec_id AND d.seen_as = 'event';

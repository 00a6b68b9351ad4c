-- events: one row per loaded event, every source, in the common model (documented in README.md).
-- A view, not a table: each event is stored once, in the table of its kind, so a load parses and
-- writes every line once.  Columns a source does not have are NULL.
CREATE OR REPLACE VIEW events AS
SELECT event_id, source, kind, time, time_ns, node, cluster, namespace, pod, workload,
       container_id, exec_id, parent_exec_id, pid, uid, "binary", args,
       NULL::VARCHAR AS src_ip, NULL::BIGINT AS src_port, NULL::VARCHAR AS dst_ip,
       NULL::BIGINT AS dst_port, NULL::VARCHAR AS protocol, NULL::VARCHAR AS verdict,
       NULL::VARCHAR AS http_method, NULL::VARCHAR AS http_path, NULL::BIGINT AS http_code,
       NULL::VARCHAR AS dns_query, NULL::VARCHAR AS rule, NULL::VARCHAR AS priority, summary,
       file, line, byte_offset
FROM process_events
UNION ALL
-- hooks: the 5-tuple is the event's own only for the old flat socket events (process_connect, ...)
SELECT event_id, source, kind, time, time_ns, node, cluster, namespace, pod, workload,
       container_id, exec_id, parent_exec_id, pid, uid, "binary", args,
       CASE WHEN NOT flat THEN NULL ELSE saddr END, CASE WHEN NOT flat THEN NULL ELSE sport END,
       CASE WHEN NOT flat THEN NULL ELSE daddr END, CASE WHEN NOT flat THEN NULL ELSE dport END,
       CASE WHEN NOT flat THEN NULL ELSE protocol END,
       NULL, NULL, NULL, NULL, NULL, NULL, NULL, summary, file, line, byte_offset
FROM (SELECT *, kind NOT IN ('process_kprobe', 'process_tracepoint', 'process_uprobe', 'process_lsm') AS flat
      FROM kprobes)
UNION ALL
-- flows: namespace, pod and workload are the source endpoint's, the destination's when the
-- source is not a pod
SELECT event_id, 'hubble', 'flow', time, time_ns, node, cluster,
       coalesce(src_namespace, dst_namespace), coalesce(src_pod, dst_pod),
       coalesce(src_workload, dst_workload), NULL, NULL, NULL, NULL, NULL, NULL, NULL,
       src_ip, src_port, dst_ip, dst_port, protocol, verdict, http_method, http_path, http_code,
       dns_query, NULL, NULL, summary, file, line, byte_offset
FROM flows
UNION ALL
-- alerts: the process's binary and arguments as Falco printed them (output_fields)
SELECT event_id, source, 'alert', time, time_ns, node, NULL, namespace, pod, workload,
       container_id, exec_id, NULL, pid, NULL,
       coalesce(nullif(nullif(fields['proc.exepath'], '<NA>'), ''), nullif(nullif(fields['proc.exe'], '<NA>'), '')),
       coalesce(nullif(nullif(fields['proc.args'], '<NA>'), ''), nullif(nullif(fields['proc.cmdline'], '<NA>'), '')),
       NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, rule, priority, rule,
       file, line, byte_offset
FROM alerts
UNION ALL
SELECT event_id, source, kind, time, time_ns, node, cluster, namespace, pod, workload,
       container_id, exec_id, parent_exec_id, pid, uid, "binary", args,
       src_ip, src_port, dst_ip, dst_port, protocol, verdict, http_method, http_path, http_code,
       dns_query, rule, priority, summary, file, line, byte_offset
FROM other_events;

//! The diesel schema: one `table!` per migration-created table. Kept in
//! step with `migrations/` (as `diesel print-schema` would write it).

diesel::table! {
    tenants (id) {
        id -> Uuid,
        name -> Text,
        created_at -> Timestamptz,
        callback_secret -> Nullable<Text>,
        callback_previous_secret -> Nullable<Text>,
        callback_previous_expires_at -> Nullable<Timestamptz>,
    }
}

diesel::table! {
    api_keys (id) {
        id -> Uuid,
        tenant_id -> Uuid,
        name -> Text,
        role -> Text,
        prefix -> Text,
        key_hash -> Text,
        created_at -> Timestamptz,
        last_used_at -> Nullable<Timestamptz>,
        revoked_at -> Nullable<Timestamptz>,
    }
}

diesel::table! {
    jobs (id) {
        id -> Uuid,
        tenant_id -> Uuid,
        kind -> Text,
        queue -> Text,
        priority -> Int2,
        status -> Text,
        attempts -> Int4,
        max_attempts -> Int4,
        run_at -> Timestamptz,
        payload -> Jsonb,
        progress -> Nullable<Jsonb>,
        result -> Nullable<Jsonb>,
        error_code -> Nullable<Text>,
        error_message -> Nullable<Text>,
        idempotency_key -> Nullable<Text>,
        request_hash -> Nullable<Text>,
        callback_url -> Nullable<Text>,
        dispatch_seq -> Int4,
        dispatched_at -> Nullable<Timestamptz>,
        worker -> Nullable<Text>,
        cancel_requested_at -> Nullable<Timestamptz>,
        created_at -> Timestamptz,
        started_at -> Nullable<Timestamptz>,
        heartbeat_at -> Nullable<Timestamptz>,
        finished_at -> Nullable<Timestamptz>,
    }
}

diesel::table! {
    job_events (id) {
        id -> Int8,
        job_id -> Uuid,
        kind -> Text,
        status -> Nullable<Text>,
        data -> Jsonb,
        created_at -> Timestamptz,
    }
}

diesel::table! {
    webhook_endpoints (id) {
        id -> Uuid,
        tenant_id -> Uuid,
        url -> Text,
        event_types -> Array<Text>,
        enabled -> Bool,
        description -> Text,
        secret -> Text,
        previous_secret -> Nullable<Text>,
        previous_expires_at -> Nullable<Timestamptz>,
        consecutive_failures -> Int4,
        disabled_reason -> Nullable<Text>,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
        circuit_opened_at -> Nullable<Timestamptz>,
        probe_delivery_id -> Nullable<Uuid>,
    }
}

diesel::table! {
    webhook_deliveries (id) {
        id -> Uuid,
        tenant_id -> Uuid,
        endpoint_id -> Nullable<Uuid>,
        url -> Nullable<Text>,
        event_type -> Text,
        subject_id -> Nullable<Uuid>,
        body -> Text,
        status -> Text,
        attempts -> Int4,
        last_status -> Nullable<Int4>,
        last_error -> Nullable<Text>,
        created_at -> Timestamptz,
        delivered_at -> Nullable<Timestamptz>,
    }
}

diesel::table! {
    webhook_attempts (id) {
        id -> Int8,
        delivery_id -> Uuid,
        attempted_at -> Timestamptz,
        status_code -> Nullable<Int4>,
        latency_ms -> Int4,
        error -> Nullable<Text>,
        response -> Nullable<Text>,
    }
}

diesel::table! {
    documents (id) {
        id -> Uuid,
        tenant_id -> Uuid,
        title -> Text,
        filename -> Text,
        content_type -> Text,
        doc_type -> Text,
        size_bytes -> Int8,
        content_hash -> Text,
        blob_key -> Text,
        status -> Text,
        metadata -> Jsonb,
        page_count -> Nullable<Int4>,
        chunk_count -> Nullable<Int4>,
        error_code -> Nullable<Text>,
        error_message -> Nullable<Text>,
        ingest_job_id -> Nullable<Uuid>,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
    }
}

diesel::table! {
    document_pages (document_id, page_no) {
        document_id -> Uuid,
        page_no -> Int4,
        text -> Text,
    }
}

// `chunks.tsv` (a generated tsvector) is left out: diesel has no type for
// it, and full-text queries use SQL fragments.
diesel::table! {
    chunks (id) {
        id -> Uuid,
        tenant_id -> Uuid,
        document_id -> Uuid,
        ordinal -> Int4,
        page_no -> Int4,
        heading_path -> Array<Text>,
        text -> Text,
        token_count -> Int4,
    }
}

diesel::table! {
    tags (id) {
        id -> Uuid,
        tenant_id -> Uuid,
        name -> Text,
        description -> Text,
        color -> Nullable<Text>,
        created_at -> Timestamptz,
    }
}

diesel::table! {
    document_tags (document_id, tag_id) {
        document_id -> Uuid,
        tag_id -> Uuid,
    }
}

diesel::table! {
    audit_log (id) {
        id -> Int8,
        tenant_id -> Uuid,
        actor_key_id -> Nullable<Uuid>,
        action -> Text,
        selector -> Jsonb,
        outcome -> Jsonb,
        job_id -> Nullable<Uuid>,
        created_at -> Timestamptz,
    }
}

diesel::table! {
    embedding_cache (tenant_id, model_id, content_hash) {
        model_id -> Text,
        content_hash -> Text,
        vector -> Array<Float4>,
        created_at -> Timestamptz,
        tenant_id -> Uuid,
    }
}

diesel::table! {
    vector_collections (name) {
        name -> Text,
        model_id -> Text,
        dimension -> Int4,
        state -> Text,
        job_id -> Nullable<Uuid>,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
    }
}

diesel::table! {
    conversations (id) {
        id -> Uuid,
        tenant_id -> Uuid,
        title -> Text,
        system_prompt -> Text,
        models -> Array<Text>,
        settings -> Jsonb,
        tags -> Array<Text>,
        parent_id -> Nullable<Uuid>,
        fork_message_id -> Nullable<Uuid>,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
        summary -> Nullable<Text>,
        summary_through -> Nullable<Uuid>,
    }
}

diesel::table! {
    messages (id) {
        id -> Uuid,
        conversation_id -> Uuid,
        tenant_id -> Uuid,
        role -> Text,
        content -> Text,
        reply_to -> Nullable<Uuid>,
        model -> Nullable<Text>,
        job_id -> Nullable<Uuid>,
        usage -> Nullable<Jsonb>,
        citations -> Jsonb,
        meta -> Jsonb,
        created_at -> Timestamptz,
    }
}

diesel::table! {
    llm_usage (id) {
        id -> Int8,
        tenant_id -> Uuid,
        job_id -> Nullable<Uuid>,
        message_id -> Nullable<Uuid>,
        provider -> Text,
        model -> Text,
        prompt_tokens -> Int4,
        completion_tokens -> Int4,
        cost_usd -> Float8,
        latency_ms -> Int4,
        ttft_ms -> Nullable<Int4>,
        cache_hit -> Bool,
        error_code -> Nullable<Text>,
        created_at -> Timestamptz,
    }
}

diesel::table! {
    llm_providers (tenant_id, name) {
        tenant_id -> Uuid,
        name -> Text,
        kind -> Text,
        base_url -> Text,
        api_key_encrypted -> Nullable<Text>,
        api_key_hint -> Nullable<Text>,
        timeout_ms -> Int8,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
    }
}

diesel::table! {
    llm_models (tenant_id, alias) {
        tenant_id -> Uuid,
        alias -> Text,
        provider -> Text,
        name -> Text,
        context_tokens -> Int4,
        input_usd_per_mtok -> Float8,
        output_usd_per_mtok -> Float8,
        fallbacks -> Array<Text>,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
    }
}

diesel::table! {
    mcp_servers (id) {
        id -> Uuid,
        tenant_id -> Uuid,
        name -> Text,
        transport -> Text,
        command -> Nullable<Text>,
        url -> Nullable<Text>,
        timeout_ms -> Int8,
        roles -> Array<Text>,
        tools -> Jsonb,
        discovered_at -> Nullable<Timestamptz>,
        discovery_error -> Nullable<Text>,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
        secrets_encrypted -> Nullable<Text>,
        env_keys -> Array<Text>,
        has_bearer_token -> Bool,
    }
}

diesel::table! {
    tool_executions (id) {
        id -> Uuid,
        tenant_id -> Uuid,
        job_id -> Nullable<Uuid>,
        tool -> Text,
        arguments -> Jsonb,
        result -> Nullable<Jsonb>,
        result_truncated -> Bool,
        error_code -> Nullable<Text>,
        error_message -> Nullable<Text>,
        duration_ms -> Int4,
        cache_hit -> Bool,
        created_at -> Timestamptz,
    }
}

diesel::table! {
    agents (id) {
        id -> Uuid,
        tenant_id -> Uuid,
        name -> Text,
        system_prompt -> Text,
        model -> Text,
        temperature -> Float4,
        tools -> Array<Text>,
        max_steps -> Int4,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
    }
}

diesel::table! {
    deployment_facts (name) {
        name -> Text,
        value -> Text,
        recorded_at -> Timestamptz,
    }
}

diesel::joinable!(messages -> conversations (conversation_id));

diesel::joinable!(api_keys -> tenants (tenant_id));
diesel::joinable!(jobs -> tenants (tenant_id));
diesel::joinable!(job_events -> jobs (job_id));
diesel::joinable!(webhook_endpoints -> tenants (tenant_id));
diesel::joinable!(webhook_deliveries -> webhook_endpoints (endpoint_id));
diesel::joinable!(webhook_attempts -> webhook_deliveries (delivery_id));
diesel::joinable!(document_pages -> documents (document_id));
diesel::joinable!(chunks -> documents (document_id));
diesel::joinable!(document_tags -> documents (document_id));
diesel::joinable!(document_tags -> tags (tag_id));
diesel::allow_tables_to_appear_in_same_query!(documents, document_tags, tags, chunks);
diesel::allow_tables_to_appear_in_same_query!(conversations, messages);

diesel::table! {
    schedules (id) {
        id -> Uuid,
        tenant_id -> Uuid,
        cron -> Text,
        time_zone -> Text,
        kind -> Text,
        payload -> Jsonb,
        priority -> Int2,
        max_attempts -> Nullable<Int4>,
        callback_url -> Nullable<Text>,
        enabled -> Bool,
        misfire -> Text,
        misfire_cap -> Int4,
        ends_at -> Nullable<Timestamptz>,
        next_fire_at -> Nullable<Timestamptz>,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
    }
}

diesel::table! {
    schedule_fires (schedule_id, fire_at) {
        schedule_id -> Uuid,
        fire_at -> Timestamptz,
        job_id -> Uuid,
        misfired -> Bool,
        created_at -> Timestamptz,
    }
}

diesel::table! {
    tenant_limits (tenant_id) {
        tenant_id -> Uuid,
        key_requests_per_sec -> Nullable<Int4>,
        tenant_requests_per_sec -> Nullable<Int4>,
        jobs_per_min -> Jsonb,
        cost_per_day_usd -> Nullable<Float8>,
        cost_per_month_usd -> Nullable<Float8>,
        updated_at -> Timestamptz,
        concurrency -> Jsonb,
        retention_days -> Nullable<Int4>,
        retention_export -> Nullable<Bool>,
    }
}

diesel::table! {
    retention_runs (tenant_id) {
        tenant_id -> Uuid,
        queued_at -> Timestamptz,
    }
}

diesel::table! {
    usage_thresholds (tenant_id, period, period_start) {
        tenant_id -> Uuid,
        period -> Text,
        period_start -> Date,
        created_at -> Timestamptz,
    }
}

diesel::table! {
    job_outcomes (tenant_id, bucket, queue, status, backend) {
        tenant_id -> Uuid,
        bucket -> Timestamptz,
        queue -> Text,
        status -> Text,
        backend -> Int4,
        n -> Int8,
    }
}

diesel::table! {
    job_dependencies (job_id, depends_on) {
        job_id -> Uuid,
        depends_on -> Uuid,
        run_on_failure -> Bool,
    }
}

diesel::allow_tables_to_appear_in_same_query!(jobs, job_dependencies);

diesel::table! {
    job_batches (id) {
        id -> Uuid,
        tenant_id -> Uuid,
        callback_url -> Nullable<Text>,
        on_complete -> Nullable<Jsonb>,
        total -> Int4,
        counts -> Nullable<Jsonb>,
        on_complete_job_id -> Nullable<Uuid>,
        completed_at -> Nullable<Timestamptz>,
        created_at -> Timestamptz,
        quiet -> Bool,
    }
}

diesel::table! {
    files (id) {
        id -> Uuid,
        tenant_id -> Uuid,
        purpose -> Text,
        filename -> Text,
        bytes -> Int8,
        blob_key -> Text,
        created_at -> Timestamptz,
    }
}

diesel::table! {
    openai_batches (id) {
        id -> Uuid,
        tenant_id -> Uuid,
        endpoint -> Text,
        input_file_id -> Uuid,
        completion_window -> Text,
        status -> Text,
        metadata -> Nullable<Jsonb>,
        errors -> Nullable<Jsonb>,
        output_file_id -> Nullable<Uuid>,
        error_file_id -> Nullable<Uuid>,
        total -> Int4,
        completed -> Int4,
        failed -> Int4,
        created_at -> Timestamptz,
        expires_at -> Timestamptz,
        in_progress_at -> Nullable<Timestamptz>,
        finalizing_at -> Nullable<Timestamptz>,
        completed_at -> Nullable<Timestamptz>,
        failed_at -> Nullable<Timestamptz>,
        expired_at -> Nullable<Timestamptz>,
        cancelling_at -> Nullable<Timestamptz>,
        cancelled_at -> Nullable<Timestamptz>,
    }
}

diesel::table! {
    openai_batch_lines (batch_id, line) {
        batch_id -> Uuid,
        line -> Int4,
        custom_id -> Text,
        job_id -> Nullable<Uuid>,
        error -> Nullable<Jsonb>,
    }
}

diesel::table! {
    job_batch_members (batch_id, job_id) {
        batch_id -> Uuid,
        job_id -> Uuid,
    }
}

diesel::allow_tables_to_appear_in_same_query!(jobs, job_batch_members);

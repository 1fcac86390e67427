{#-
    Incremental facts re-derive the rows whose inputs were loaded since the last run, minus a
    lookback window (var incremental_lookback_days, default 0): every staging model carries
    _loaded_at (when the loader wrote the version), so a late-arriving or changed record, a
    backfilled day or a rerun date has a new _loaded_at and is picked up whatever its business
    date. A build sees every batch stamped before the newest it holds, as loads and builds exclude
    each other (plugins/salesdw/warehouse/build_lock.py); a lookback covers raw written by other
    means while dbt builds.

    incremental_cutoff(): SQL timestamptz expression, the newest _loaded_at in this model's
    table minus the lookback (-infinity when the table is empty). Use only inside
    {% if is_incremental() %}.
-#}
{% macro incremental_cutoff() -%}
    {%- set days = var('incremental_lookback_days', 0) | string | trim -%}
    {%- if not modules.re.match('^[0-9]+$', days) -%}
        {{ exceptions.raise_compiler_error(
            "var incremental_lookback_days must be a whole number of days, got '" ~ days ~ "'"
        ) }}
    {%- endif -%}
    (
        select coalesce(max(_loaded_at), cast('-infinity' as timestamptz)) - interval '{{ days }} days'
        from {{ this }}
    )
{%- endmacro %}


{#-
    post_hook of an incremental fact: delete the rows whose key is no longer produced upstream
    (a record deleted in the source, an opportunity no longer won). delete+insert only replaces
    the keys of the new rows; a key that drops out of the model's input would otherwise stay.
    upstream_filter (SQL condition on upstream) narrows the keys that stay, e.g. 'is_deleted is not true'
    when upstream is a staging model that keeps deleted records flagged. On a full refresh
    nothing matches.
-#}
{% macro delete_keys_gone_from(upstream, key, upstream_filter='true') -%}
    -- an anti-join, each side read once and hashed (PostgreSQL does not run a not exists once per
    -- row): 2.1 s over fct_activities' 2 million rows at scale 10, where `key in (this except
    -- upstream)` took 3.2 s, hashing both sides and then the fact again
    delete from {{ this }} as kept
    where not exists (
        select from {{ upstream }} as upstream
        where upstream.{{ key }} = kept.{{ key }} and ({{ upstream_filter }})
    )
{%- endmacro %}


{#-
    SQL query for the changed-keys CTE of an incremental fact dated against the SCD2 dimensions:
    the keys of `relation` whose rep (column rep_id, dim_sales_rep) or customer (column
    account_id, dim_customer) got a version loaded since the last run. A backfilled version can
    change which one was valid at the fact's time. Use only inside {% if is_incremental() %}.
-#}
{% macro keys_with_new_rep_or_customer_version(relation, key, rep_id, account_id) -%}
    select {{ relation }}.{{ key }}
    from {{ relation }}
    inner join {{ ref('dim_sales_rep') }} as sales_reps on {{ relation }}.{{ rep_id }} = sales_reps.rep_id
    where sales_reps._loaded_at > {{ incremental_cutoff() }}
    union
    select {{ relation }}.{{ key }}
    from {{ relation }}
    inner join {{ ref('dim_customer') }} as customers on {{ relation }}.{{ account_id }} = customers.customer_id
    where customers._loaded_at > {{ incremental_cutoff() }}
{%- endmacro %}

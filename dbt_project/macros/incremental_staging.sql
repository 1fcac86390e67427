{#-
    Staging kept as tables, each night re-deriving only the keys whose versions changed (a staging
    model with materialized='incremental', incremental_strategy='append' and the pre_hook
    collect_changed_keys). A view would deduplicate every version of the whole history in raw for
    each model and test that reads it, with a window no filter can be pushed below.

    collect_changed_keys (the pre_hook, inside the model's transaction) gathers the keys to re-derive
    into a temporary table, then deletes their rows: the model's SQL re-derives them from every
    version raw holds of them (its source CTE keeps `where changed_key(...)`), and a key no version
    is left of (its only delivery corrected without it) stays deleted. The keys:
      - every key in a batch of the entity loaded since the newest version this table keeps, found
        by its day in audit.load_batches (the loader records each batch there in the transaction
        that swaps it in, and stamps its rows _loaded_at in the order those commit: load/batch.py).
        Only those days' partitions of raw are read;
      - every key whose kept version came from one of those days: a day delivered again replaces
        that day's batch whole, and the new delivery may no longer hold the key or its version;
      - for an API entity (deletions=true), every key in its deleted-records listing's batches loaded
        since, and every key flagged as deleted here (few): a listing's day delivered again may
        withdraw a deletion.
    On a full refresh or the first build, nothing: the model reads all of raw.
-#}
{% macro changed_keys_relation() -%}
    pg_temp.{{ adapter.quote(this.identifier ~ '__changed') }}
{%- endmacro %}

{% macro collect_changed_keys(source_name, table_name, primary_key, deletions=false) -%}
    {%- if is_incremental() -%}
        {%- set raw = source(source_name, table_name) -%}
        create temporary table {{ changed_keys_relation() }} on commit drop as
        with

        cutoff as (

            select coalesce(max(_loaded_at), cast('-infinity' as timestamptz)) as loaded_at from {{ this }}

        ),

        redelivered as (

            select batches.entity, batches.batch_date
            from {{ source('audit', 'load_batches') }} as batches
            inner join cutoff on batches.started_at > cutoff.loaded_at
            where batches.source = '{{ source_name }}' and batches.entity in ('{{ table_name }}', '{{ table_name }}__deleted')

        )

        -- = any(array(...)) prunes raw's partitions at run time: only the redelivered days are read
        select {{ primary_key }} from {{ raw }}
        where _batch_date = any(array(select batch_date from redelivered where entity = '{{ table_name }}'))
        union
        select {{ primary_key }} from {{ this }}
        where _batch_date = any(array(select batch_date from redelivered where entity = '{{ table_name }}'))
        {%- if deletions %} or is_deleted
        union
        select {{ primary_key }} from {{ source(source_name, table_name ~ '__deleted') }}
        where _batch_date = any(array(select batch_date from redelivered where entity = '{{ table_name }}__deleted'))
        {%- endif %};
        analyze {{ changed_keys_relation() }};
        delete from {{ this }}
        where {{ primary_key }} in (select {{ primary_key }} from {{ changed_keys_relation() }})
    {%- endif -%}
{%- endmacro %}

{#- SQL condition: on an incremental run, `primary_key` is one collect_changed_keys gathered. -#}
{% macro changed_key(primary_key) -%}
    {#- a unit test has no `this`: it reads its given rows whole -#}
    {%- if this is not none and is_incremental() -%}
        {{ primary_key }} in (select {{ primary_key }} from {{ changed_keys_relation() }})
    {%- else -%}
        true
    {%- endif -%}
{%- endmacro %}

{#-
    Soft deletes of an API entity. The API's deleted-records listing lands in
    raw.<source>__<entity>__deleted; a record counts as deleted in the source when it was deleted at
    or after its latest version (a deletion stamped in the same second as the last update still came
    after it). The row stays in staging, flagged, so it remains traceable.
-#}
{% macro deletions_of(source_name, table_name, primary_key) -%}
    -- the API's deleted-records listing: when each deleted record went
    select
        {{ primary_key }},
        max(cast(deleted_at as timestamptz)) as deleted_at
    from {{ source(source_name, table_name ~ '__deleted') }}
    where {{ changed_key(primary_key) }}
    group by {{ primary_key }}
{%- endmacro %}

{% macro flag_deleted(relation, deletions, primary_key, cursor) -%}
    -- deleted in the source when deleted after its latest version; the row stays, flagged
    select
        {{ relation }}.*,
        {{ deletions }}.deleted_at is not null as is_deleted,
        {{ deletions }}.deleted_at
    from {{ relation }}
    left join {{ deletions }}
        on
            {{ relation }}.{{ primary_key }} = {{ deletions }}.{{ primary_key }}
            and {{ deletions }}.deleted_at >= coalesce({{ relation }}.{{ cursor }}, '-infinity')
{%- endmacro %}

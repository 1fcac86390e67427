{#-
    Raw tables are append-by-batch: a record appears once per daily feed in which it changed.
    Keep the latest version per primary key: newest cursor first, then the newest load, then
    the highest _origin (file:line) as the last tie-break. PostgreSQL's distinct on keeps the
    first row of each key in that order. Use on a CTE whose cursor column is already cast.
-#}
{% macro dedupe_latest(relation, primary_key, cursor) -%}
    select distinct on ({{ primary_key }})
        *
    from {{ relation }}
    order by
        {{ primary_key }},
        {{ cursor }} desc nulls last,
        _loaded_at desc nulls last,
        _origin desc nulls last
{%- endmacro %}

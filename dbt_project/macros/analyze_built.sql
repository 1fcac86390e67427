{#-
    post-hook of every model (dbt_project.yml): refresh the planner's statistics of a table dbt just
    built, before the models and tests downstream read it. Autovacuum gets to a new table only later:
    without statistics the planner guessed 235 million rows for a join of 380,000 and chose plans
    that spilled to disk. A view has no statistics of its own; an incremental model keeps its own
    between runs (a night changes a small part of it, and autovacuum follows), so it is analyzed
    only when built whole.
-#}
{% macro analyze_built() -%}
    {%- set materialized = config.get('materialized') -%}
    {%- if materialized == 'table' or (materialized == 'incremental' and not is_incremental()) -%}
        analyze {{ this }}
    {%- endif -%}
{%- endmacro %}

{#-
    The large incremental staging tables mark each row with the build that wrote it: _built_at, the
    start of that dbt invocation (build_marker()), indexed. A night re-derives a few thousand of
    their millions of rows, and their data tests (not_null, unique, relationships, accepted_values)
    check only the rows of the newest build in them: what that build wrote. The rest passed the same
    tests when it was written, and an incremental build rewrites every row whose key it touches
    (incremental_staging.sql), so a key cannot repeat an older row. A full refresh writes every row
    with one marker, and its tests read the whole table.
-#}
{% macro build_marker() -%}
    cast('{{ run_started_at.isoformat() }}' as timestamptz)
{%- endmacro %}

{#- The indexes of an incremental staging table (config indexes=...): its marker, for the newest
    build's rows, and its key, unique (which no data test repeats). -#}
{% macro marked_table_indexes(primary_key) -%}
    {{ return([{'columns': ['_built_at']}, {'columns': [primary_key], 'unique': True}]) }}
{%- endmacro %}

{#-
    dbt wraps the model a generic test reads in this macro (with the test's `where` config). A model
    with a _built_at column is read as its newest build's rows; a relationships test's parent (`to`)
    is read whole. The newest marker is looked up as the test compiles and written in as a literal:
    against a subquery's value the planner assumes a share of the table (a handful of builds, each
    1/n of it) and scans it all; against the literal, statistics that have never seen it (only a
    full build analyzes these tables) make it read the index.
-#}
{% macro get_where_subquery(relation) -%}
    {%- set conditions = [] -%}
    {%- set where = config.get('where') -%}
    {%- if where -%}{%- do conditions.append(where) -%}{%- endif -%}
    {%- set tested = graph.nodes.get(model.attached_node) if execute and model.attached_node else none -%}
    {%- if tested and '_built_at' in tested.columns -%}
        {%- set newest = run_query('select max(_built_at)::text from ' ~ relation).columns[0].values()[0] -%}
        {%- do conditions.append("_built_at = cast('" ~ newest ~ "' as timestamptz)" if newest else 'false') -%}
    {%- endif -%}
    {%- if conditions -%}
        {%- do return('(select * from ' ~ relation ~ ' where ' ~ conditions | join(' and ') ~ ') dbt_subquery') -%}
    {%- else -%}
        {%- do return(relation) -%}
    {%- endif -%}
{%- endmacro %}

{#-
    The feeds (`source.entity`) `relation`'s model reads, directly or through other models, that
    this deployment lacks: those not in env SALESDW_FEEDS (comma-separated `source.entity`, which
    salesdw sets from the feeds its config has: deployment.py environment; unset, every feed)
    nor in var feeds_not_needed_for_rows. A feed's deleted-records table counts as the feed.
    Worked out when dbt executes, from its graph; [] while it parses, which so never reads the
    variable (another deployment's feeds do not cost a new parse).
-#}
{% macro missing_feeds(relation) %}
    {%- if not execute -%}
        {{ return([]) }}
    {%- endif -%}
    {%- set configured = env_var('SALESDW_FEEDS', '') -%}
    {%- if not configured -%}
        {{ return([]) }}
    {%- endif -%}
    {%- set have = configured.split(',') | map('trim') | list + var('feeds_not_needed_for_rows') -%}
    {%- set node = graph.nodes.values()
        | selectattr('resource_type', 'equalto', 'model')
        | selectattr('alias', 'equalto', relation.identifier)
        | first -%}
    {{ return(upstream_feeds(node.unique_id, []) | reject('in', have) | unique | sort | list) }}
{% endmacro %}


{#- `source.entity` of each source upstream of node `unique_id`; `seen`: the nodes walked already. -#}
{% macro upstream_feeds(unique_id, seen) %}
    {%- set feeds = [] -%}
    {%- for parent in graph.nodes[unique_id].depends_on.nodes if parent not in seen -%}
        {%- do seen.append(parent) -%}
        {%- if parent in graph.sources -%}
            {%- set source = graph.sources[parent] -%}
            {%- do feeds.append(source.source_name ~ '.' ~ source.name | replace('__deleted', '')) -%}
        {%- elif parent in graph.nodes -%}
            {%- do feeds.extend(upstream_feeds(parent, seen)) -%}
        {%- endif -%}
    {%- endfor -%}
    {{ return(feeds) }}
{% endmacro %}

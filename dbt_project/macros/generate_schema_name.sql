{#-
    Use the custom schema name as-is (staging, intermediate, marts) instead of dbt's default
    <target_schema>_<custom_schema>. Nodes without a custom schema land in the target schema.
    The dev target (a developer's own schemas: profiles.yml) prefixes it with the target schema,
    dev_<name>_staging, ..., so a developer's build never writes the pipeline's schemas.
-#}
{% macro generate_schema_name(custom_schema_name, node) -%}
    {%- if custom_schema_name is none -%}
        {{ target.schema }}
    {%- elif target.name == 'dev' -%}
        {{ target.schema }}_{{ custom_schema_name | trim }}
    {%- else -%}
        {{ custom_schema_name | trim }}
    {%- endif -%}
{%- endmacro %}

{#-
    Rows whose column lies outside [min_value, max_value]; either bound may be left out (a
    column that must not go below 0: min_value 0 alone). Nulls are not_null's business.
-#}
{% test between(model, column_name, min_value=none, max_value=none) %}

{%- set outside = [] -%}
{%- if min_value is not none %}{% do outside.append(column_name ~ ' < ' ~ min_value) %}{% endif -%}
{%- if max_value is not none %}{% do outside.append(column_name ~ ' > ' ~ max_value) %}{% endif -%}
{%- if not outside -%}
    {{ exceptions.raise_compiler_error("test between on " ~ column_name ~ ": give min_value, max_value or both") }}
{%- endif %}

select *
from {{ model }}
where {{ outside | join(' or ') }}

{% endtest %}

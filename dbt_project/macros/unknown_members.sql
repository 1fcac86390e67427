{#-
    The unknown members of the dimensions: a fact whose parent the source left empty (a deal
    without an account, as real CRMs have) counts under it, never silently dropped, and is listed by
    it. dim_customer holds its row.
-#}
{% macro unknown_account_id() -%}
    cast('(unknown)' as text)
{%- endmacro %}

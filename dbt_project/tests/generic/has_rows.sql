{#-
    The model is not empty, when this deployment has every feed it reads (macro missing_feeds):
    a deployment with a CRM alone builds the finance and service marts empty, and rightly so.
-#}
{% test has_rows(model) %}

{%- set missing = missing_feeds(model) %}

select '{{ model }} is empty' as failure
where not exists (select from {{ model }})
{%- if missing %}
    -- empty is what it should be without {{ missing | join(', ') }}
    and false
{%- endif %}

{% endtest %}

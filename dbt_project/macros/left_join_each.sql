{#-
    Left joins of every relation in `relations` to the spine `spine` on the same key columns
    `keys` (e.g. a rep x month spine joined to one aggregate per metric):
        from spine {{ left_join_each('spine', ['visits', 'bookings'], ['rep_id', 'month']) }}
-#}
{% macro left_join_each(spine, relations, keys) -%}
    {%- for relation in relations %}
    left join {{ relation }}
        on
        {%- for key in keys %}
            {{ "and " if not loop.first }}{{ spine }}.{{ key }} = {{ relation }}.{{ key }}
        {%- endfor %}
    {% endfor -%}
{%- endmacro %}

{#-
    First and last day of dim_date, as SQL date expressions. Macros rather than literals in the
    model so that dim_date's unit tests can narrow the calendar to a few hand-checked days
    (unit test overrides: macros).
-#}
{% macro calendar_first_day() -%}
    cast('2020-01-01' as date)
{%- endmacro %}


{% macro calendar_last_day() -%}
    cast('2030-12-31' as date)
{%- endmacro %}

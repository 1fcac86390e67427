{#-
    The fiscal calendar. A fiscal year starts on the first day of month var
    fiscal_year_start_month (1-12; 1 = the calendar year) and is named by the calendar year in
    which it ends: with start month 4, 2025-04-01 .. 2026-03-31 is fiscal year 2026.

    Shifting a date's month forward by (13 - start month) mod 12 months lands the fiscal year's
    first month on January, so the shifted date's calendar year, quarter and month are the
    fiscal year, quarter and month (start month 4: April + 9 months = January of the next year).
-#}
{% macro fiscal_year_start_month() -%}
    {%- set start_month = var('fiscal_year_start_month', 1) | string | trim -%}
    {%- if not modules.re.match('^([1-9]|1[0-2])$', start_month) -%}
        {{ exceptions.raise_compiler_error(
            "var fiscal_year_start_month must be a month number 1-12, got '" ~ start_month ~ "'"
        ) }}
    {%- endif -%}
    {{ return(start_month | int) }}
{%- endmacro %}


{#- SQL expression: the first day of the month of date_column, moved into the fiscal year's frame. -#}
{% macro fiscal_shifted_month(date_column) -%}
    {%- set shift_months = (13 - fiscal_year_start_month()) % 12 -%}
    cast(date_trunc('month', {{ date_column }}) + interval '{{ shift_months }} months' as date)
{%- endmacro %}


{#- SQL expression (integer): the fiscal year of date_column, named by the year in which it ends. -#}
{% macro fiscal_year(date_column) -%}
    cast(extract(year from {{ fiscal_shifted_month(date_column) }}) as integer)
{%- endmacro %}


{#- SQL expression (integer): the fiscal quarter (1-4) of date_column. -#}
{% macro fiscal_quarter(date_column) -%}
    cast(extract(quarter from {{ fiscal_shifted_month(date_column) }}) as integer)
{%- endmacro %}


{#- SQL expression (integer): the fiscal month (1-12; 1 = var fiscal_year_start_month) of date_column. -#}
{% macro fiscal_month(date_column) -%}
    cast(extract(month from {{ fiscal_shifted_month(date_column) }}) as integer)
{%- endmacro %}
